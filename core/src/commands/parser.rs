//! OWNER: commands helper.
/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCommand {
    /// Lowercased command name.
    pub name: String,
    /// Arguments, split with quoting.
    pub args: Vec<String>,
}
/// Why a line is not a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unterminated quote")]
    UnterminatedQuote,
}
/// Parses `line`; `None` if it is not a command.
pub fn parse_command(
    line: &str,
    prefix: &str,
    prefix_optional: bool,
) -> Option<Result<ParsedCommand, ParseError>> {
    todo!("{line}{prefix}{prefix_optional}")
}
