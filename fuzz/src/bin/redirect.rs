//! Fuzz target `redirect`: see usher_fuzz::redirect.

fn main() {
    usher_fuzz::redirect::prepare();
    afl::fuzz!(|data: &[u8]| usher_fuzz::redirect::run(data));
}
