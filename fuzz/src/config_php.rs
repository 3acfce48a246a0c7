//! Target `config_php`: Organizr's `config.php` as `usher import organizr` reads it. The parser
//! must refuse or accept any file without panicking or running out of stack, and every mapped
//! key of a file it accepts goes through the conversion the import applies.
//!
//! Input: the file's bytes (not UTF-8: the import refuses it before parsing).

use usher::import::organizr::config_php::{parse, PhpKey, PhpValue};
use usher::import::organizr::mapping::{convert, mapping};

/// Nothing to prepare.
pub fn prepare() {}

/// Parses one file and converts what the import would take over.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = parse(text) else {
        return;
    };
    let PhpValue::Array(entries) = &config else {
        panic!("parse accepted a file that does not return an array");
    };
    for (key, value) in entries {
        if let PhpKey::Str(key) = key {
            if let Some(m) = mapping(key) {
                let _ = convert(m, value, &config, None);
            }
        }
    }
}
