//! The `help` text: the commands a user may run, grouped by [`Section`], as plain text and
//! HTML. In the management room commands are shown without the prefix (it is optional there)
//! with a note that other rooms need it; elsewhere commands only allowed in the management
//! room are marked.

use std::fmt::Write;

use super::registry::Registry;
use super::{CommandSpec, PermissionLevel, Section};

/// `prefix` + name + usage, e.g. `!join [network] #channel [key]`; for usage errors too.
pub fn synopsis(spec: &CommandSpec, prefix: &str) -> String {
    if spec.usage.is_empty() {
        format!("{prefix}{}", spec.name)
    } else {
        format!("{prefix}{} {}", spec.name, spec.usage)
    }
}

/// Renders the help for a user at `level`: `(plain text, HTML)`. Only commands with
/// `spec.level <= level` are listed, sections in [`Section`] order, commands in registration
/// order within a section.
pub fn render_help(
    registry: &Registry,
    level: PermissionLevel,
    prefix: &str,
    in_management_room: bool,
) -> (String, String) {
    let mut visible = registry.visible_to(level);
    if visible.is_empty() {
        let text = "No commands are available to you.";
        return (text.to_owned(), format!("<p>{text}</p>"));
    }
    // Stable: keeps registration order within a section.
    visible.sort_by_key(|c| c.spec().section);
    let shown_prefix = if in_management_room { "" } else { prefix };

    let (mut text, mut html) = if in_management_room && !prefix.is_empty() {
        (
            format!(
                "Available commands. In this room the prefix is optional; elsewhere start \
                 commands with {prefix} (e.g. {prefix}help).\n"
            ),
            format!(
                "<p>Available commands. In this room the prefix is optional; elsewhere start \
                 commands with <code>{p}</code> (e.g. <code>{p}help</code>).</p>\n",
                p = crate::html::escape(prefix)
            ),
        )
    } else {
        (
            "Available commands:\n".to_owned(),
            "<p>Available commands:</p>\n".to_owned(),
        )
    };

    let mut current: Option<Section> = None;
    for command in visible {
        let spec = command.spec();
        if current != Some(spec.section) {
            if current.is_some() {
                html.push_str("</ul>\n");
            }
            current = Some(spec.section);
            let _ = write!(text, "\n{}\n", spec.section.title());
            let _ = write!(
                html,
                "<h4>{}</h4>\n<ul>\n",
                crate::html::escape(spec.section.title())
            );
        }
        let synopsis = synopsis(spec, shown_prefix);
        let aliases = spec
            .aliases
            .iter()
            .map(|a| format!("{shown_prefix}{a}"))
            .collect::<Vec<_>>();
        let marker = spec.management_only && !in_management_room;

        let _ = write!(text, "  {synopsis}: {}", spec.summary);
        let _ = write!(
            html,
            "<li><code>{}</code>: {}",
            crate::html::escape(&synopsis),
            crate::html::escape(spec.summary)
        );
        if !aliases.is_empty() {
            let _ = write!(text, " (also {})", aliases.join(", "));
            let codes: Vec<String> = aliases
                .iter()
                .map(|a| format!("<code>{}</code>", crate::html::escape(a)))
                .collect();
            let _ = write!(html, " (also {})", codes.join(", "));
        }
        if marker {
            text.push_str(" [management room only]");
            html.push_str(" <em>[management room only]</em>");
        }
        text.push('\n');
        html.push_str("</li>\n");
    }
    html.push_str("</ul>");
    (text.trim_end().to_owned(), html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::Command;
    use crate::commands::registry::tests::Dummy;
    use std::sync::Arc;

    fn spec(
        name: &'static str,
        aliases: &'static [&'static str],
        section: Section,
        usage: &'static str,
        summary: &'static str,
        level: PermissionLevel,
        management_only: bool,
    ) -> Arc<dyn Command> {
        Arc::new(Dummy(CommandSpec {
            name,
            aliases,
            section,
            usage,
            summary,
            level,
            management_only,
        }))
    }

    fn registry() -> Registry {
        use PermissionLevel::*;
        let mut r = Registry::new();
        // Registered out of section order on purpose.
        r.register(spec(
            "plumb",
            &[],
            Section::Admin,
            "<room> <channel>",
            "Bridges a room & a channel",
            Admin,
            false,
        ))
        .unwrap();
        r.register(spec(
            "join",
            &["j"],
            Section::Chats,
            "[network] #channel [key]",
            "Joins a channel",
            User,
            false,
        ))
        .unwrap();
        r.register(spec(
            "help",
            &[],
            Section::General,
            "",
            "Shows this help",
            None,
            false,
        ))
        .unwrap();
        r.register(spec("login", &[], Section::Auth, "", "Logs in", User, true))
            .unwrap();
        r.register(spec(
            "part",
            &[],
            Section::Chats,
            "#channel",
            "Leaves a channel",
            User,
            false,
        ))
        .unwrap();
        r
    }

    #[test]
    fn plain_outside_management_room() {
        let (text, _) = render_help(&registry(), PermissionLevel::User, "!", false);
        assert_eq!(
            text,
            "Available commands:\n\
             \n\
             General\n  !help: Shows this help\n\
             \n\
             Authentication\n  !login: Logs in [management room only]\n\
             \n\
             Chats\n  !join [network] #channel [key]: Joins a channel (also !j)\n  \
             !part #channel: Leaves a channel"
        );
    }

    #[test]
    fn plain_in_management_room() {
        let (text, _) = render_help(&registry(), PermissionLevel::Admin, "!", true);
        assert!(text.starts_with("Available commands. In this room the prefix is optional; elsewhere start commands with ! (e.g. !help).\n"), "{text}");
        assert!(text.contains("\n  help: Shows this help\n"));
        assert!(text.contains("\n  login: Logs in\n"));
        assert!(text.contains("  join [network] #channel [key]: Joins a channel (also j)"));
        assert!(
            text.ends_with("Administration\n  plumb <room> <channel>: Bridges a room & a channel")
        );
    }

    #[test]
    fn html_is_escaped_and_grouped() {
        let (_, html) = render_help(&registry(), PermissionLevel::Admin, "<!>", false);
        assert!(html.starts_with("<p>Available commands:</p>\n<h4>General</h4>\n<ul>\n<li><code>&lt;!&gt;help</code>: Shows this help</li>\n</ul>\n"), "{html}");
        assert!(html.contains("<li><code>&lt;!&gt;plumb &lt;room&gt; &lt;channel&gt;</code>: Bridges a room &amp; a channel</li>"));
        assert!(html.contains("(also <code>&lt;!&gt;j</code>)"));
        assert!(html.contains("Logs in <em>[management room only]</em>"));
        assert!(html.ends_with("</ul>"));
        assert_eq!(html.matches("<ul>").count(), 4);
        assert_eq!(html.matches("</ul>").count(), 4);
        let (_, html) = render_help(&registry(), PermissionLevel::User, "!", true);
        assert!(html.contains("<code>!</code> (e.g. <code>!help</code>)"));
        assert!(!html.contains("plumb"));
    }

    #[test]
    fn filtered_by_level() {
        let (text, html) = render_help(&registry(), PermissionLevel::Relay, "!", false);
        assert_eq!(
            text,
            "Available commands:\n\nGeneral\n  !help: Shows this help"
        );
        assert!(!html.contains("join"));
        let (text, html) = render_help(&Registry::new(), PermissionLevel::Admin, "!", false);
        assert_eq!(text, "No commands are available to you.");
        assert_eq!(html, "<p>No commands are available to you.</p>");
    }

    #[test]
    fn synopsis_forms() {
        let r = registry();
        assert_eq!(synopsis(r.get("help").unwrap().spec(), "!"), "!help");
        assert_eq!(synopsis(r.get("part").unwrap().spec(), ""), "part #channel");
    }
}
