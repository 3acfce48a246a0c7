//! Fuzz target `proxy_auth`: see usher_fuzz::proxy_auth.

fn main() {
    usher_fuzz::proxy_auth::prepare();
    afl::fuzz!(|data: &[u8]| usher_fuzz::proxy_auth::run(data));
}
