//! `usher oidc …`: registering apps from a terminal, the secret printed once, and the key
//! rotation a running server follows.

use super::*;

fn at(dir: &str, args: &[&str]) -> Command {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--data-dir", dir]);
    usher(&all)
}

#[test]
fn oidc_client_commands_add_list_show_secret_delete_and_refuse_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let added = run_with(
        at(dir, &["oidc", "client", "add", "grafana", "--redirect-uri", "https://grafana.example.com/login/generic_oauth", "--name", "Grafana", "--group", "2"]),
        None,
    );
    assert!(added.success, "{added:?}");
    assert!(added.stderr.contains("public_url is not set"), "says why it does not answer yet");
    let secret = after(&added.stdout, "client_secret: ", |c| !c.is_whitespace()).unwrap();
    assert!(secret.len() >= 43);
    assert!(added.stdout.contains("admits groups: 0 to 2"));

    let list = run_with(at(dir, &["oidc", "client", "list"]), None).stdout;
    assert!(list.contains("grafana\tGrafana\tconfidential\tgroup<=2"), "{list}");
    let shown = run_with(at(dir, &["oidc", "client", "show", "grafana"]), None).stdout;
    assert!(!shown.contains(&secret), "the secret is shown once only");

    let r = run_with(at(dir, &["oidc", "client", "add", "lan", "--redirect-uri", "http://grafana.lan/cb"]), None);
    assert!(!r.success && r.stderr.contains("--allow-http"), "{r:?}");
    let r = run_with(at(dir, &["oidc", "client", "add", "lan", "--redirect-uri", "http://grafana.lan/cb", "--allow-http"]), None);
    assert!(r.success, "{r:?}");
    let r = run_with(at(dir, &["oidc", "client", "add", "spa", "--public", "--redirect-uri", "http://127.0.0.1:3000/cb"]), None);
    assert!(r.success && !r.stdout.contains("client_secret:"), "{r:?}");
    let r = run_with(at(dir, &["oidc", "client", "add", "own", "--secret-stdin", "--redirect-uri", "https://x.example.com/cb"]), Some("short\n"));
    assert!(!r.success && r.stderr.contains("at least 32"), "{r:?}");
    let mine = "a-secret-of-at-least-thirty-two-characters";
    let r = run_with(at(dir, &["oidc", "client", "add", "own", "--secret-stdin", "--redirect-uri", "https://x.example.com/cb"]), Some(&format!("{mine}\n")));
    assert!(r.success && !r.stdout.contains(mine), "{r:?}");

    let again = run_with(at(dir, &["oidc", "client", "secret", "grafana"]), None).stdout;
    let second = after(&again, "client_secret: ", |c| !c.is_whitespace()).unwrap();
    assert_ne!(second, secret);
    let r = run_with(at(dir, &["oidc", "client", "secret", "spa"]), None);
    assert!(!r.success && r.stderr.contains("public client"), "{r:?}");
    let r = run_with(at(dir, &["oidc", "client", "delete", "grafana"]), None);
    assert!(r.success, "{r:?}");
    let r = run_with(at(dir, &["oidc", "client", "show", "grafana"]), None);
    assert!(!r.success && r.stderr.contains("no client \"grafana\""), "{r:?}");
    let r = run_with(at(dir, &["oidc", "rotate-key"]), None);
    assert!(r.success && r.stdout.contains("new signing key"), "{r:?}");
}
