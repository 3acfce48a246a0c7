//! Fuzz target `proxy_auth_conn`: see usher_fuzz::proxy_auth_conn.

fn main() {
    usher_fuzz::proxy_auth_conn::prepare();
    afl::fuzz!(|data: &[u8]| usher_fuzz::proxy_auth_conn::run(data));
}
