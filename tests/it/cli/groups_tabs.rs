//! `usher group …` and `usher tab …`: the admin API's Core calls from a terminal, refusals
//! naming the field, and a running server following the change feed.

use super::*;

/// `usher ARGS… --data-dir DIR`.
fn at(dir: &str, args: &[&str]) -> Command {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--data-dir", dir]);
    usher(&all)
}

fn ok_at(dir: &str, args: &[&str]) -> String {
    let r = run_with(at(dir, args), None);
    assert!(r.success, "usher {args:?} failed: {r:?}");
    r.stdout
}

/// The line of a listing whose first column is `id`.
fn row(list: &str, id: &str) -> Option<Vec<String>> {
    list.lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.first().map(String::as_str) == Some(id))
}

/// Every cell under `header` starts where the header does (cells may be empty).
fn assert_aligned(list: &str, header: &str) {
    let start = list.lines().next().unwrap().find(header).unwrap();
    let mut filled = 0;
    for line in list.lines().skip(1) {
        let chars: Vec<char> = line.chars().collect();
        if chars.get(start).is_some_and(|c| *c != ' ') {
            assert_eq!(
                chars[start - 2..start],
                [' ', ' '],
                "{header:?} in:\n{list}"
            );
            filled += 1;
        }
    }
    assert!(
        filled > 0,
        "no cell under {header:?} starts at its column:\n{list}"
    );
}

#[test]
fn group_commands_add_rename_default_delete_and_refuse_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let d = d.to_str().unwrap();

    let list = ok_at(d, &["group", "list"]);
    assert!(list.starts_with("id"), "{list}");
    for (id, name) in [
        ("0", "Admin"),
        ("1", "Co-Admin"),
        ("3", "Power"),
        ("4", "User"),
        ("999", "Guest"),
    ] {
        assert!(
            row(&list, id).is_some_and(|r| r[1] == name),
            "{id} {name}: {list}"
        );
    }
    assert_eq!(row(&list, "4").unwrap().last().unwrap(), "yes", "{list}");

    let out = ok_at(d, &["group", "add", "Friends"]);
    assert!(out.contains("added group 5 Friends"), "{out}");
    let out = ok_at(d, &["group", "add", "Family", "--id", "42"]);
    assert!(out.contains("added group 42 Family"), "{out}");
    ok_at(d, &["group", "rename", "42", "Close Family"]);
    let out = ok_at(d, &["group", "default", "42"]);
    assert!(out.contains("42 Close Family"), "{out}");
    let list = ok_at(d, &["group", "list"]);
    assert_eq!(
        row(&list, "42").unwrap(),
        ["42", "Close", "Family", "yes"],
        "{list}"
    );
    assert_eq!(row(&list, "4").unwrap(), ["4", "User"], "{list}");
    assert_eq!(row(&list, "5").unwrap(), ["5", "Friends"], "{list}");
    assert_aligned(&list, "name");
    assert_aligned(&list, "default");

    let refusals: &[(&[&str], &[&str])] = &[
        (&["group", "add", "X", "--id", "3"], &["id:", "5 to 997"]),
        (&["group", "add", "X", "--id", "998"], &["id:", "5 to 997"]),
        (
            &["group", "add", "X", "--id", "5"],
            &["id:", "already exists"],
        ),
        (&["group", "add", "FRIENDS"], &["name:", "another group"]),
        (&["group", "add", " X"], &["name:", "spaces"]),
        (&["group", "add", "Friends, Admin"], &["name:", "','"]),
        (
            &["group", "rename", "4", "User;Admin"],
            &["name:", "Remote-Groups"],
        ),
        (
            &["group", "rename", "4", "User\u{200b}"],
            &["name:", "invisible"],
        ),
        (
            &["group", "rename", "4", "friends"],
            &["name:", "another group"],
        ),
        (&["group", "rename", "77", "X"], &["there is no group 77"]),
        (
            &["group", "default", "0"],
            &["is_default:", "administrator"],
        ),
        (
            &["group", "default", "1"],
            &["is_default:", "administrator"],
        ),
        (&["group", "default", "77"], &["there is no group 77"]),
        (
            &["group", "delete", "42"],
            &["is_default:", "default group"],
        ),
        (&["group", "delete", "4"], &["id:", "built-in"]),
        (&["group", "delete", "77"], &["there is no group 77"]),
    ];
    for (args, needles) in refusals {
        fails(at(d, args), None, needles);
    }

    // Somebody in the group: refused, and the group stays.
    ok(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.com",
            "--group",
            "5",
            "--data-dir",
            d,
        ],
        None,
    );
    fails(
        at(d, &["group", "delete", "5"]),
        None,
        &["cannot delete group 5", "1 user(s) are in this group"],
    );
    ok_at(d, &["user", "delete", "carol"]);
    ok_at(d, &["group", "default", "4"]);
    ok_at(d, &["group", "delete", "5"]);
    ok_at(d, &["group", "delete", "42"]);

    let list = ok_at(d, &["group", "list"]);
    assert!(
        row(&list, "5").is_none() && row(&list, "42").is_none(),
        "{list}"
    );
    assert!(!list.contains('X'), "nothing half-made: {list}");
    assert_eq!(row(&list, "4").unwrap(), ["4", "User", "yes"], "{list}");
    assert_eq!(row(&list, "3").unwrap(), ["3", "Power", "User"], "{list}");
}

/// The proxy-auth status alice gets for `/api/v2/auth/NAME`.
async fn auth(server: &Server, client: &Client, name: &str) -> u16 {
    status(server, client, &format!("/api/v2/auth/{name}")).await
}

#[tokio::test]
async fn tab_commands_change_what_a_running_server_lets_in() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let server = &Server::start(serve(&data, "127.0.0.1:0", &[])).await;
    ok(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let alice = &browser();
    assert_eq!(login(server, alice, "alice", PASSWORD).await.status(), 200);
    assert_ne!(auth(server, alice, "Ombi").await, 200, "no such tab yet");

    let out = ok_at(
        d,
        &[
            "tab",
            "add",
            "Ombi",
            "/ombi/",
            "--new-window",
            "--category",
            "Media",
        ],
    );
    let ombi = after(&out, "added tab ", |c| c.is_ascii_digit()).unwrap_or_default();
    assert!(!ombi.is_empty(), "{out}");
    let started = Instant::now();
    eventually("the CLI's new tab reaches proxy auth", || async {
        auth(server, alice, "Ombi").await == 200
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    // Default group (4 User) and --group-max 0 unless told otherwise.
    let out = ok_at(
        d,
        &[
            "tab",
            "add",
            "Plex",
            "https://plex.example.com/web",
            "--group",
            "2",
        ],
    );
    let plex = after(&out, "added tab ", |c| c.is_ascii_digit()).unwrap_or_default();
    let list = ok_at(d, &["tab", "list"]);
    assert_eq!(
        row(&list, &ombi).unwrap(),
        [
            "ombi_id",
            "1",
            "Ombi",
            "/ombi/",
            "0-4",
            "new_window",
            "Media",
            "yes"
        ]
        .map(|c| if c == "ombi_id" { ombi.as_str() } else { c }),
        "{list}"
    );
    assert_eq!(
        row(&list, &plex).unwrap(),
        [
            "plex_id",
            "2",
            "Plex",
            "https://plex.example.com/web",
            "0-2",
            "iframe",
            "yes"
        ]
        .map(|c| if c == "plex_id" { plex.as_str() } else { c }),
        "{list}"
    );
    for column in [
        "order", "name", "url", "groups", "type", "category", "enabled",
    ] {
        assert_aligned(&list, column);
    }
    eventually("Plex is for groups 0-2 only", || async {
        auth(server, alice, "Plex").await == 401
    })
    .await;

    // Refused values name the field, exit non-zero, and change nothing.
    let refusals: &[(&[&str], &[&str])] = &[
        (
            &["tab", "add", "Bad", "javascript:alert(1)"],
            &["cannot add tab Bad", "url:", "http://"],
        ),
        (&["tab", "add", "Bad", "//evil.example/"], &["url:"]),
        (
            &["tab", "add", "OMBI", "/other/"],
            &["name:", "another tab"],
        ),
        (&["tab", "add", "1234", "/x/"], &["name:", "digits"]),
        (
            &[
                "tab",
                "add",
                "Bad",
                "/x/",
                "--group",
                "3",
                "--group-max",
                "4",
            ],
            &["group_id_max:", "above group_id"],
        ),
        (
            &["tab", "add", "Bad", "/x/", "--icon", "javascript:x"],
            &["icon:"],
        ),
        (
            &["tab", "edit", &ombi, "--url", "javascript:alert(1)"],
            &["cannot change tab", "url:"],
        ),
        (
            &["tab", "edit", &ombi, "--name", "plex"],
            &["name:", "another tab"],
        ),
        (&["tab", "edit", &ombi], &["nothing to change"]),
        (
            &["tab", "edit", "9999", "--name", "X"],
            &["there is no tab 9999"],
        ),
        (&["tab", "delete", "9999"], &["there is no tab 9999"]),
        (
            &["tab", "order", &plex],
            &["ids:", "every tab exactly once"],
        ),
        (&["tab", "order", &plex, &plex, &ombi], &["ids:"]),
    ];
    for (args, needles) in refusals {
        fails(at(d, args), None, needles);
    }
    assert_eq!(ok_at(d, &["tab", "list"]), list, "nothing half-done");

    ok_at(
        d,
        &["tab", "edit", &ombi, "--group", "2", "--type", "iframe"],
    );
    eventually("the CLI's edit reaches proxy auth", || async {
        auth(server, alice, "Ombi").await == 401
    })
    .await;
    let out = ok_at(
        d,
        &[
            "tab",
            "edit",
            &ombi,
            "--group",
            "4",
            "--name",
            "Requests",
            "--no-category",
            "--disable",
        ],
    );
    assert!(
        out.contains("Requests") && out.contains("disabled"),
        "{out}"
    );
    eventually("the renamed tab reaches proxy auth", || async {
        auth(server, alice, "Requests").await == 200
    })
    .await;
    assert_ne!(
        auth(server, alice, "Ombi").await,
        200,
        "the old name is gone"
    );

    let out = ok_at(d, &["tab", "order", &plex, &ombi]);
    assert!(out.contains("Plex, ") && out.contains("Requests"), "{out}");
    let list = ok_at(d, &["tab", "list"]);
    let ombi_row = row(&list, &ombi).unwrap();
    assert_eq!(
        ombi_row[1..],
        ["2", "Requests", "/ombi/", "0-4", "iframe", "no"],
        "{list}"
    );
    assert_eq!(row(&list, &plex).unwrap()[1], "1", "{list}");
    ok_at(d, &["tab", "edit", &ombi, "--enable"]);
    assert!(row(&ok_at(d, &["tab", "list"]), &ombi)
        .unwrap()
        .ends_with(&["yes".to_string()]));

    let out = ok_at(d, &["tab", "delete", &ombi]);
    assert!(
        out.contains("deleted tab") && out.contains("Requests"),
        "{out}"
    );
    eventually("the deleted tab's name stops working", || async {
        auth(server, alice, "Requests").await != 200
    })
    .await;
    let list = ok_at(d, &["tab", "list"]);
    assert!(
        row(&list, &ombi).is_none() && row(&list, &plex).is_some(),
        "{list}"
    );
}

#[test]
fn group_and_tab_help_explains_the_numbers_and_the_visibility_rule() {
    let words = |args: &[&str]| {
        ok(args, None)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    for args in [
        &["group", "--help"][..],
        &["group", "add", "--help"],
        &["tab", "--help"],
        &["tab", "add", "--help"],
        &["tab", "edit", "--help"],
    ] {
        let help = words(args);
        for needle in [
            "0 Admin",
            "1 Co-Admin",
            "2 Super User",
            "3 Power User",
            "4 User",
            "5-997 custom",
            "998 anyone signed in",
            "999 Guest",
        ] {
            assert!(help.contains(needle), "{args:?} lacks {needle:?}: {help}");
        }
    }
    let add = words(&["tab", "add", "--help"]);
    for needle in [
        "group_id_max <= G <= group_id",
        "--group <N>",
        "[default: the default group]",
        "--group-max <N>",
        "[default: 0]",
        "--new-window",
        "--category <C>",
        "--icon <URL>",
        "--disabled",
    ] {
        assert!(
            add.contains(needle),
            "tab add --help lacks {needle:?}: {add}"
        );
    }
    let edit = words(&["tab", "edit", "--help"]);
    for needle in [
        "--type <TYPE>",
        "iframe, new_window",
        "--no-category",
        "--enable",
        "--disable",
    ] {
        assert!(
            edit.contains(needle),
            "tab edit --help lacks {needle:?}: {edit}"
        );
    }
}
