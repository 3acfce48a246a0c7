//! Fuzz target `config_php`: see usher_fuzz::config_php.

fn main() {
    usher_fuzz::config_php::prepare();
    afl::fuzz!(|data: &[u8]| usher_fuzz::config_php::run(data));
}
