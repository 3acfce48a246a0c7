//! Fuzz target `sso`: see usher_fuzz::sso.

fn main() {
    usher_fuzz::sso::prepare();
    afl::fuzz!(|data: &[u8]| usher_fuzz::sso::run(data));
}
