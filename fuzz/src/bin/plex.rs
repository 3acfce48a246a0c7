//! Fuzz target `plex`: see usher_fuzz::plex.

fn main() {
    usher_fuzz::plex::prepare();
    afl::fuzz!(|data: &[u8]| usher_fuzz::plex::run(data));
}
