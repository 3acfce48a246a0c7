//! `usher oidc …`: registering apps from a terminal, the secret printed once, refusals with
//! their reasons, and a key rotation.

use super::*;

/// `usher oidc WORDS… --data-dir DIR` (the words split at spaces), fed `stdin`.
fn oidc(dir: &str, words: &str, stdin: Option<&str>) -> Run {
    let mut args = vec!["oidc"];
    args.extend(words.split_whitespace());
    args.extend_from_slice(&["--data-dir", dir]);
    run_with(usher(&args), stdin)
}

/// The secret a command printed.
fn secret_in(r: &Run) -> String {
    after(&r.stdout, "client_secret: ", |c| !c.is_whitespace()).expect("a secret printed")
}

#[test]
fn oidc_client_commands_add_list_show_secret_delete_and_refuse_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let grafana = "client add grafana --redirect-uri https://grafana.example.com/login/generic_oauth --name Grafana --group 2";
    let added = oidc(dir, grafana, None);
    assert!(added.success, "{added:?}");
    assert!(
        added.stderr.contains("public_url is not set"),
        "says why it does not answer yet"
    );
    let secret = secret_in(&added);
    assert!(secret.len() >= 43);
    assert!(added.stdout.contains("admits groups: 0 to 2"));

    let list = oidc(dir, "client list", None).stdout;
    assert!(
        list.contains("grafana\tGrafana\tconfidential\tgroup<=2"),
        "{list}"
    );
    let shown = oidc(dir, "client show grafana", None).stdout;
    assert!(
        shown.contains("client_id: grafana") && !shown.contains(&secret),
        "{shown}"
    );

    let lan = "client add lan --redirect-uri http://grafana.lan/cb";
    let r = oidc(dir, lan, None);
    assert!(!r.success && r.stderr.contains("--allow-http"), "{r:?}");
    assert!(oidc(dir, &format!("{lan} --allow-http"), None).success);
    let r = oidc(
        dir,
        "client add spa --public --redirect-uri http://127.0.0.1:3000/cb",
        None,
    );
    assert!(r.success && !r.stdout.contains("client_secret:"), "{r:?}");

    let own = "client add own --secret-stdin --redirect-uri https://x.example.com/cb";
    let r = oidc(dir, own, Some("short\n"));
    assert!(!r.success && r.stderr.contains("at least 32"), "{r:?}");
    let mine = "a-secret-of-at-least-thirty-two-characters";
    let r = oidc(dir, own, Some(&format!("{mine}\n")));
    assert!(r.success && !r.stdout.contains(mine), "{r:?}");

    let second = secret_in(&oidc(dir, "client secret grafana", None));
    assert_ne!(second, secret);
    let r = oidc(dir, "client secret spa", None);
    assert!(!r.success && r.stderr.contains("public client"), "{r:?}");
    assert!(oidc(dir, "client delete grafana", None).success);
    let r = oidc(dir, "client show grafana", None);
    assert!(
        !r.success && r.stderr.contains("no client \"grafana\""),
        "{r:?}"
    );
    let r = oidc(dir, "rotate-key", None);
    assert!(r.success && r.stdout.contains("new signing key"), "{r:?}");
}
