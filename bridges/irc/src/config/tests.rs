use super::*;

fn parse(yaml: &str) -> Result<IrcConfig, serde_norway::Error> {
    serde_norway::from_str(yaml)
}

fn keys(cfg: &IrcConfig) -> Vec<String> {
    cfg.problems().into_iter().map(|e| e.key).collect()
}

#[test]
fn example_parses_to_defaults_and_validates() {
    let yaml = IrcConfig::example_yaml();
    assert!(yaml.lines().all(|l| l.is_empty() || l.starts_with("  ")));
    // Nested under `network:` as the core will place it.
    #[derive(serde::Deserialize)]
    struct Wrapper {
        network: IrcConfig,
    }
    let wrapped: Wrapper = serde_norway::from_str(&format!("network:\n{yaml}")).unwrap();
    let cfg = wrapped.network;
    // The example spells the port out (run-local patches it).
    let mut expected = ServerConfig::new("localhost");
    expected.port = Some(6667);
    assert_eq!(
        cfg,
        IrcConfig {
            servers: BTreeMap::from([("localhost".into(), expected)]),
            pool: None,
            identd: IdentdConfig::default(),
        }
    );
    assert_eq!(NetworkConfig::validate(&cfg), vec![]);
    assert_eq!(cfg.servers["localhost"].port(), 6667);
}

#[test]
fn minimal_server_gets_defaults() {
    let cfg = parse("servers:\n  oftc:\n    address: irc.oftc.net\n    tls: true\n").unwrap();
    let s = &cfg.servers["oftc"];
    assert_eq!(s.port(), 6697);
    assert_eq!(s.nick_template, "{displayname}[m]");
    assert_eq!(s.join_permission, PermissionLevel::User);
    assert_eq!(
        s.flood,
        FloodConfig {
            burst: 5,
            per_second: 2.0
        }
    );
    assert_eq!(s.password_mode, PasswordMode::Sasl);
    assert!(cfg.problems().is_empty());
    assert_eq!(cfg.find_server("OFTC").map(|(k, _)| k), Some("oftc"));
    assert_eq!(
        cfg.find_server("irc.oftc.net").map(|(k, _)| k),
        Some("oftc")
    );
    assert!(cfg.find_server("libera").is_none());
}

#[test]
fn unknown_fields_are_rejected() {
    let err = parse("servers:\n  a:\n    address: x\n    colour: red\n").unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
    assert!(parse("server: {}\n").is_err());
    assert!(parse("servers:\n  a:\n    address: x\n    password_mode: plain\n").is_err());
}

#[test]
fn bad_values_give_keyed_errors() {
    let yaml = r##"
servers:
  good:
    address: "irc://bad host"
    port: 0
    nick_template: "{nick}"
    ghost_template: "_{network}_"
    alias_template: "{channel"
    exclude_channels: ["#ok", "nochan"]
    max_connections: 0
    concurrent_connects: 0
    flood: { burst: 0, per_second: 0 }
    ping_timeout_secs: 1
  Bad Name:
    address: x
"##;
    let cfg = parse(yaml).unwrap();
    let got = keys(&cfg);
    for key in [
        "servers.good.address",
        "servers.good.port",
        "servers.good.nick_template",
        "servers.good.ghost_template",
        "servers.good.alias_template",
        "servers.good.exclude_channels[1]",
        "servers.good.max_connections",
        "servers.good.concurrent_connects",
        "servers.good.flood.burst",
        "servers.good.flood.per_second",
        "servers.good.ping_timeout_secs",
        "servers.Bad Name",
    ] {
        assert!(got.contains(&key.to_owned()), "missing {key} in {got:?}");
    }
    assert_eq!(got.len(), 12, "{got:?}");
    let prefixed = NetworkConfig::validate(&cfg);
    assert!(
        prefixed
            .iter()
            .all(|e| e.key.starts_with("network.servers."))
    );
}

#[test]
fn empty_config_is_an_error() {
    assert_eq!(keys(&IrcConfig::default()), vec!["servers".to_owned()]);
}

#[test]
fn tls_ca_file_must_be_a_readable_pem_used_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let yaml = |tls: bool, path: &str| {
        format!(
            "servers:\n  x:\n    address: irc.example.net\n    tls: {tls}\n    tls_ca_file: {path}\n"
        )
    };
    let without_tls = parse(&yaml(false, "/etc/hosts")).unwrap();
    assert_eq!(keys(&without_tls), vec!["servers.x.tls_ca_file"]);
    let missing = parse(&yaml(true, "/nonexistent/ca.pem")).unwrap();
    assert_eq!(keys(&missing), vec!["servers.x.tls_ca_file"]);
    let not_pem = parse(&yaml(true, &junk.display().to_string())).unwrap();
    assert_eq!(keys(&not_pem), vec!["servers.x.tls_ca_file"]);
    let spaced =
        parse("servers:\n  x:\n    address: irc.example.net\n    bot_password: \"a b\"\n").unwrap();
    assert_eq!(keys(&spaced), vec!["servers.x.bot_password"]);
}

#[test]
fn pool_section_parses_and_is_checked() {
    let cfg = parse(
        "servers:\n  oftc:\n    address: irc.oftc.net\npool:\n  redis_url: redis://127.0.0.1:6379/0\n",
    )
    .unwrap();
    let pool = cfg.pool.as_ref().unwrap();
    assert_eq!(pool.key_prefix, "ferrybridge:irc");
    assert_eq!(pool.max_backlog, 100_000);
    assert_eq!(cfg.problems(), vec![]);
    let bad = parse(
        "servers:\n  oftc:\n    address: irc.oftc.net\npool:\n  redis_url: nonsense\n  key_prefix: \"a b\"\n  max_backlog: 5\n",
    )
    .unwrap();
    let keys: Vec<String> = bad.problems().into_iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        ["pool.redis_url", "pool.key_prefix", "pool.max_backlog"]
    );
}

#[test]
fn identd_defaults_off_on_port_113_and_is_validated() {
    let cfg = parse("servers:\n  a:\n    address: irc.example.net\n").unwrap();
    assert_eq!(
        cfg.identd,
        IdentdConfig {
            enabled: false,
            address: "0.0.0.0".into(),
            port: 113
        }
    );
    let cfg = parse(
        "servers:\n  a:\n    address: irc.example.net\nidentd: {enabled: true, address: irc.example.net, port: 0}\n",
    )
    .unwrap();
    assert_eq!(keys(&cfg), vec!["identd.address", "identd.port"]);
    assert!(parse("servers: {}\nidentd: {enabled: true, bogus: 1}\n").is_err());
    let cfg = parse(
        "servers:\n  a:\n    address: x\nidentd: {enabled: true, address: '::', port: 1113}\n",
    )
    .unwrap();
    assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
}
