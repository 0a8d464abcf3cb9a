//! `list contacts [page]` and `list groups [page]`, with phone numbers and group IDs.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use crate::bridge::{Inner, to_bridge_error};
use crate::jid::ChatJid;
use crate::sessions;

pub struct List(pub Arc<Inner>);

const SPEC: CommandSpec = CommandSpec {
    name: "list",
    aliases: &[],
    section: Section::Chats,
    usage: "<contacts|groups> [page] [--login N]",
    summary: "List your WhatsApp contacts or groups (with their numbers and group IDs).",
    level: PermissionLevel::User,
    management_only: false,
};

/// One page of `lines`, with a header and a hint to the next page.
pub fn page(what: &str, lines: &[String], page: usize, size: usize) -> String {
    if lines.is_empty() {
        return format!("No {what}.");
    }
    let pages = lines.len().div_ceil(size);
    let page = page.clamp(1, pages);
    let mut out = format!("{} {what} (page {page} of {pages}):\n", lines.len());
    for line in lines.iter().skip((page - 1) * size).take(size) {
        out.push_str("- ");
        out.push_str(line);
        out.push('\n');
    }
    if page < pages {
        out.push_str(&format!("Send `list {what} {}` for more.", page + 1));
    }
    out.trim_end().to_owned()
}

#[async_trait]
impl Command for List {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(
        &self,
        ctx: &CommandContext,
        mut args: Vec<String>,
    ) -> Result<Reply, CommandError> {
        let (login, session) = super::session_of(&self.0, ctx, &mut args)?;
        let (what, page_no) = match args.as_slice() {
            [what] => (what.to_ascii_lowercase(), 1),
            [what, n] => (
                what.to_ascii_lowercase(),
                n.parse::<usize>()
                    .map_err(|_| CommandError::Usage(format!("{n:?} is not a page number.")))?,
            ),
            _ => return Err(CommandError::Usage("List what?".into())),
        };
        let size = self.0.config.page_size;
        let lines: Vec<String> = match what.as_str() {
            "contacts" => sessions::contacts(&ctx.host, &login)
                .await
                .into_iter()
                .map(|(phone, name)| format!("{name}: {phone}"))
                .collect(),
            "groups" => {
                let mut groups = session
                    .net
                    .groups()
                    .await
                    .map_err(|e| super::failed(to_bridge_error(e)))?;
                groups.sort_by(|a, b| a.subject.cmp(&b.subject));
                groups
                    .iter()
                    .map(|g| match &g.jid {
                        ChatJid::Group(id) => format!("{}: {id}", g.subject),
                        other => format!("{}: {other}", g.subject),
                    })
                    .collect()
            }
            _ => {
                return Err(CommandError::Usage(
                    "Say `list contacts` or `list groups`.".into(),
                ));
            }
        };
        Ok(Reply::text(page(&what, &lines, page_no, size)))
    }
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages() {
        let lines: Vec<String> = (1..=5).map(|i| format!("g{i}")).collect();
        let p1 = page("groups", &lines, 1, 2);
        assert!(p1.starts_with("5 groups (page 1 of 3)"), "{p1}");
        assert!(p1.contains("g2") && !p1.contains("g3") && p1.contains("list groups 2"));
        let p3 = page("groups", &lines, 9, 2);
        assert!(p3.contains("g5") && !p3.contains("for more"), "{p3}");
        assert_eq!(page("contacts", &[], 1, 2), "No contacts.");
    }
}
