//! Reading what a command is given as a file: a path, or `-` for stdin.

use std::io::Read as _;

use crate::error::CliError;

/// The text of `arg`: the file it names, or stdin when it is `-`. `what` names the option in
/// errors (`--spec`).
pub(crate) fn read(arg: &str, what: &str) -> Result<String, CliError> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::io(format!("could not read {what} from stdin"), e))?;
        return Ok(text);
    }
    std::fs::read_to_string(arg)
        .map_err(|e| CliError::io(format!("could not read {what} from `{arg}`"), e))
}

/// Refuses `-` for more than one of `args` (stdin can be read once).
pub(crate) fn one_stdin(args: &[(&str, Option<&str>)]) -> Result<(), CliError> {
    let names: Vec<&str> = args
        .iter()
        .filter(|(_, value)| *value == Some("-"))
        .map(|(name, _)| *name)
        .collect();
    if names.len() > 1 {
        return Err(CliError::usage(format!(
            "only one of {} may be `-` (stdin is read once); give the others as files",
            names.join(", ")
        )));
    }
    Ok(())
}
