//! The four bridges' default registrations claim disjoint namespaces, so one homeserver can
//! host them all (no `M_EXCLUSIVE` between them): every ghost, bot and alias one bridge can
//! mint with its example config is claimed by exactly one of the four registrations, its own.
//! (The example files are the generated configs: each bridge's `example_config` test.)

use std::sync::Arc;

use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::cli::{fill_secrets, registration_for};
use ferrybridge_core::config::{Config, NetworkConfig, Tokens, example_config, parse_config_with};
use ferrybridge_core::ghost::GhostNaming;
use ferrybridge_core::ids::RemoteUserId;
use ferrybridge_core::templates::Template;
use ferrybridge_irc::{IrcBridge, IrcConfig};
use ferrybridge_registration::Registration;
use ferrybridge_telegram::{TelegramBridge, TelegramConfig};
use ferrybridge_whatsapp::{WhatsAppBridge, WhatsAppConfig};
use ferrybridge_xmpp::{XmppBridge, XmppConfig};
use serde::de::DeserializeOwned;

/// Values for free template variables, chosen to look like other bridges' IDs.
const TRICKY: &[&str] = &[
    "bob",
    "Bob",
    "_",
    "x_",
    "xmpp",
    "_xmpp_bob",
    "irc_localhost_bob",
    "telegram",
    "_telegram_1",
    "whatsapp",
    "whatsapp_1",
    "ircbot",
    "bot",
    "4412345678",
    "alice@localhost",
    "lobby@conference.localhost/Bob",
    "#chan",
    "ü",
];

/// One bridge's default config, its registration and the IDs it can mint.
struct Sample {
    name: &'static str,
    registration: Registration,
    users: Vec<String>,
    aliases: Vec<String>,
}

/// The config `generate-config` prints, with the secrets `generate-registration` fills in.
fn default_config<B: Bridge>() -> Config<B::Config>
where
    B::Config: DeserializeOwned,
{
    config_with::<B>(&B::Config::example_yaml())
}

/// As [`default_config`] with another network section (Telegram's example leaves out the API
/// credentials it needs; they play no part in its namespace).
fn config_with<B: Bridge>(network_yaml: &str) -> Config<B::Config>
where
    B::Config: DeserializeOwned,
{
    let text = fill_secrets(&example_config(&B::info(), network_yaml));
    parse_config_with(&text, Tokens::Required).expect("the example config loads")
}

/// Telegram's example config with test API credentials.
fn telegram_config() -> Config<TelegramConfig> {
    config_with::<TelegramBridge>("  api_id: 12345\n  api_hash: 0123456789abcdef0123456789abcdef\n")
}

/// Every localpart `template` renders with known values for restricted variables and
/// [`TRICKY`] ones for the others.
fn localparts<N: NetworkConfig>(config: &Config<N>, template: &Template) -> Vec<String> {
    let known = config.network.namespace_vars();
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for var in template.variables() {
        let values: Vec<String> = match known.get(var) {
            Some(values) => values.iter().cloned().collect(),
            None => TRICKY.iter().map(|v| v.to_string()).collect(),
        };
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((var.to_owned(), v.clone()));
                    c
                })
            })
            .collect();
    }
    combos
        .iter()
        .filter_map(|vars| {
            let refs: Vec<(&str, &str)> =
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            template.render_localpart(&refs).ok()
        })
        .collect()
}

/// The ghosts the bridge's own naming makes of `remotes`.
fn ghosts<N: NetworkConfig>(
    config: &Config<N>,
    naming: Arc<dyn GhostNaming>,
    remotes: &[&str],
) -> Vec<String> {
    let template = config.username_template().unwrap();
    remotes
        .iter()
        .map(|r| {
            let vars = naming.vars(&RemoteUserId::new(*r));
            let refs: Vec<(&str, &str)> =
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            template.render_localpart(&refs).unwrap()
        })
        .collect()
}

fn sample<N: NetworkConfig>(
    name: &'static str,
    config: &Config<N>,
    ghost_localparts: Vec<String>,
    alias_localparts: Vec<String>,
) -> Sample {
    let registration = Registration::from_yaml(&registration_for(config).unwrap()).unwrap();
    let domain = &config.homeserver.domain;
    let mut users: Vec<String> = localparts(config, &config.username_template().unwrap())
        .into_iter()
        .chain(ghost_localparts)
        .map(|lp| format!("@{lp}:{domain}"))
        .collect();
    users.push(format!("@{}:{domain}", config.appservice.bot.username));
    let mut aliases = alias_localparts;
    if let Some(template) = config.alias_template().unwrap() {
        aliases.extend(localparts(config, &template));
    }
    let aliases = aliases
        .into_iter()
        .map(|lp| format!("#{lp}:{domain}"))
        .collect();
    Sample {
        name,
        registration,
        users,
        aliases,
    }
}

fn irc(config: &Config<IrcConfig>) -> Sample {
    let remotes: Vec<String> = config
        .network
        .servers
        .keys()
        .flat_map(|net| {
            ["Bob", "xmpp_bob", "_telegram_", "whatsapp"]
                .map(|nick| ferrybridge_irc::ids::user_id(net, nick).as_str().to_owned())
        })
        .collect();
    let remotes: Vec<&str> = remotes.iter().map(String::as_str).collect();
    let ghosts = ghosts(config, IrcBridge::ghost_naming(), &remotes);
    let alias = config.alias_template().unwrap().unwrap();
    let aliases = config
        .network
        .servers
        .keys()
        .map(|net| {
            alias
                .render_localpart(&[("network", net), ("channel", "chan")])
                .unwrap()
        })
        .collect();
    sample("irc", config, ghosts, aliases)
}

fn xmpp(config: &Config<XmppConfig>) -> Sample {
    let ghosts = ghosts(
        config,
        XmppBridge::ghost_naming(),
        &[
            "alice@localhost",
            "lobby@conference.localhost/Bob",
            "localhost",
        ],
    );
    let room = "lobby@conference.localhost".parse().unwrap();
    let vars = ferrybridge_xmpp::naming::room_alias_vars(&room);
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let alias = config
        .alias_template()
        .unwrap()
        .unwrap()
        .render_localpart(&refs)
        .unwrap();
    sample("xmpp", config, ghosts, vec![alias])
}

fn telegram(config: &Config<TelegramConfig>) -> Sample {
    let ids = [
        TelegramBridge::remote_user(2000),
        TelegramBridge::remote_user(-1),
    ];
    let ids: Vec<&str> = ids.iter().map(|r| r.as_str()).collect();
    let ghosts = ghosts(config, TelegramBridge::ghost_naming(), &ids);
    sample("telegram", config, ghosts, Vec::new())
}

fn whatsapp(config: &Config<WhatsAppConfig>) -> Sample {
    let phone = ferrybridge_whatsapp::jid::Phone::parse("+44 1234 5678").unwrap();
    let ghosts = ghosts(
        config,
        WhatsAppBridge::ghost_naming(),
        &[phone.remote_user().as_str()],
    );
    sample("whatsapp", config, ghosts, Vec::new())
}

/// Asserts every sampled ID is claimed by its own registration and no other.
fn assert_disjoint(samples: &[Sample]) {
    let mut checked = 0;
    for own in samples {
        assert!(own.users.len() > 5, "{}: too few sample users", own.name);
        for (ids, is_alias) in [(&own.users, false), (&own.aliases, true)] {
            for id in ids {
                let claimed_by: Vec<&str> = samples
                    .iter()
                    .filter(|s| {
                        if is_alias {
                            s.registration.matches_alias(id)
                        } else {
                            s.registration.matches_user(id)
                        }
                    })
                    .map(|s| s.name)
                    .collect();
                assert_eq!(claimed_by, [own.name], "{id} from {}", own.name);
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} IDs checked");
}

#[test]
fn default_registrations_are_pairwise_disjoint() {
    let samples = [
        irc(&default_config::<IrcBridge>()),
        xmpp(&default_config::<XmppBridge>()),
        telegram(&telegram_config()),
        whatsapp(&default_config::<WhatsAppBridge>()),
    ];
    assert_disjoint(&samples);
}

#[test]
fn irc_networks_named_like_other_bridges_stay_apart() {
    let mut config = default_config::<IrcBridge>();
    let server = config.network.servers.values().next().unwrap().clone();
    for name in ["xmpp", "telegram", "whatsapp", "whatsappbot", "irc"] {
        config.network.servers.insert(name.into(), server.clone());
    }
    let samples = [
        irc(&config),
        xmpp(&default_config::<XmppBridge>()),
        telegram(&telegram_config()),
        whatsapp(&default_config::<WhatsAppBridge>()),
    ];
    assert_disjoint(&samples);
}

#[test]
fn irc_registration_names_its_networks_literally() {
    let mut config = default_config::<IrcBridge>();
    let server = config.network.servers.values().next().unwrap().clone();
    config.network.servers.clear();
    config
        .network
        .servers
        .insert("libera".into(), server.clone());
    config.network.servers.insert("oftc".into(), server);
    let registration = Registration::from_yaml(&registration_for(&config).unwrap()).unwrap();
    let users: Vec<&str> = registration
        .namespaces
        .users
        .iter()
        .map(|n| n.regex.as_str())
        .collect();
    assert_eq!(
        users,
        [
            "^@ircbot:localhost$",
            "^@_irc_(?:libera|oftc)_.+:localhost$"
        ]
    );
    let aliases: Vec<&str> = registration
        .namespaces
        .aliases
        .iter()
        .map(|n| n.regex.as_str())
        .collect();
    assert_eq!(aliases, [r"^#_irc_(?:libera|oftc)_\#.+:localhost$"]);
    assert!(registration.matches_user("@_irc_oftc_bob:localhost"));
    assert!(!registration.matches_user("@_irc_efnet_bob:localhost"));
    assert!(!registration.matches_user("@_xmpp_bob:localhost"));
}
