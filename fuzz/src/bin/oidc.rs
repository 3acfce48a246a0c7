//! Fuzz target `oidc`: see usher_fuzz::oidc.

fn main() {
    usher_fuzz::oidc::prepare();
    afl::fuzz!(|data: &[u8]| usher_fuzz::oidc::run(data));
}
