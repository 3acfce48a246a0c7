//! `--help` explains every command, option and argument.

use super::*;

/// Options and arguments in a help text that have no explanation next to or under them.
fn unexplained(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut section = "";
    let mut missing = vec![];
    for (i, line) in lines.iter().enumerate() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if indent == 0 {
            section = text;
            continue;
        }
        let entry = text.starts_with('-')
            || text.starts_with('<')
            || (section == "Commands:" && indent == 2);
        if !entry {
            continue;
        }
        let beside = text
            .split_once("  ")
            .is_some_and(|(_, r)| !r.trim().is_empty());
        let below = lines.get(i + 1).is_some_and(|n| {
            let t = n.trim_start();
            !t.is_empty() && n.len() - t.len() > indent
        });
        if !beside && !below {
            missing.push(text.to_string());
        }
    }
    missing
}

#[test]
fn help_explains_every_command_and_option() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "--help"],
        &["user", "add", "--help"],
        &["user", "list", "--help"],
        &["user", "passwd", "--help"],
        &["user", "lock", "--help"],
        &["user", "unlock", "--help"],
        &["user", "delete", "--help"],
        &["settings", "--help"],
        &["settings", "list", "--help"],
        &["settings", "get", "--help"],
        &["settings", "set", "--help"],
        &["group", "--help"],
        &["group", "list", "--help"],
        &["group", "add", "--help"],
        &["group", "rename", "--help"],
        &["group", "default", "--help"],
        &["group", "delete", "--help"],
        &["tab", "--help"],
        &["tab", "list", "--help"],
        &["tab", "add", "--help"],
        &["tab", "edit", "--help"],
        &["tab", "delete", "--help"],
        &["tab", "order", "--help"],
        &["healthcheck", "--help"],
        &["proxy-config", "--help"],
    ] {
        let help = ok(args, None);
        assert!(help.contains("Usage: usher"), "{args:?}: {help}");
        assert_eq!(
            unexplained(&help),
            Vec::<String>::new(),
            "{args:?}:\n{help}"
        );
    }
    let words = |args: &[&str]| {
        ok(args, None)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let top = words(&["--help"]);
    for needle in [
        "serve",
        "user",
        "settings",
        "healthcheck",
        "--log-format",
        "USHER_LOG_FORMAT",
    ] {
        assert!(top.contains(needle), "usher --help lacks {needle:?}: {top}");
    }
    let serve = words(&["serve", "--help"]);
    for needle in [
        "--listen <ADDR>",
        "[default: 127.0.0.1:8420]",
        "[env: USHER_LISTEN]",
        "--data-dir <DIR>",
        "[default: ./usher-data]",
        "[env: USHER_DATA_DIR]",
        "--database-url <URL>",
        "[env: USHER_DATABASE_URL]",
        "sqlite://",
        "postgres://",
        "--config <FILE>",
        "[env: USHER_CONFIG]",
        "listen, data_dir, database_url, secret_key, log_format, log_level",
        "USHER_X_FILE",
    ] {
        assert!(
            serve.contains(needle),
            "usher serve --help lacks {needle:?}: {serve}"
        );
    }
    let add = words(&["user", "add", "--help"]);
    for needle in [
        "--email <EMAIL>",
        "--group <GROUP>",
        "4 User (default)",
        "--password-stdin",
        "random password",
    ] {
        assert!(
            add.contains(needle),
            "usher user add --help lacks {needle:?}: {add}"
        );
    }
    assert!(words(&["settings", "set", "--help"]).contains("JSON"));
}
