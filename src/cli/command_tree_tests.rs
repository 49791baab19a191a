//! Tests of the command tree itself: help text on every flag, and the README's synopsis
//! naming exactly the flags that exist.

use super::Cli;
use clap::CommandFactory;
use std::collections::{BTreeMap, BTreeSet};

/// Every subcommand's long flags (clap's own --help / --version left out), by subcommand name;
/// the root's global flags under "pupil".
fn flags() -> BTreeMap<String, BTreeSet<String>> {
    let root = Cli::command();
    let mut out = BTreeMap::new();
    let names = |c: &clap::Command| -> BTreeSet<String> {
        c.get_arguments()
            .filter(|a| !a.is_global_set() || c.get_name() == "pupil")
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "help" && *l != "version")
            .map(|l| format!("--{l}"))
            .collect()
    };
    out.insert("pupil".to_string(), names(&root));
    for sub in root.get_subcommands() {
        out.insert(sub.get_name().to_string(), names(sub));
    }
    out
}

#[test]
fn the_command_tree_is_valid() {
    Cli::command().debug_assert();
}

#[test]
fn every_flag_has_help_text() {
    let root = Cli::command();
    let mut missing = vec![];
    let mut walk = vec![root];
    while let Some(c) = walk.pop() {
        for a in c.get_arguments() {
            let long = a.get_long().unwrap_or(a.get_id().as_str());
            if long == "help" || long == "version" {
                continue;
            }
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{} --{long}", c.get_name()));
            }
        }
        walk.extend(c.get_subcommands().cloned());
    }
    assert!(missing.is_empty(), "flags without help text: {missing:?}");
}

/// The flags each command's lines in the README's "The command line" block name (comments
/// after `#` are prose and do not count; `pupil COMMAND` starts a command's lines, indented lines
/// continue it).
fn readme_flags() -> BTreeMap<String, BTreeSet<String>> {
    let readme = include_str!("../../README.md");
    let start = readme.find("## The command line").expect("README has a \"The command line\" section");
    let block = &readme[start..];
    let block = &block[block.find("```sh\n").expect("a sh block") + 6..];
    let block = &block[..block.find("```").expect("the block ends")];
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in block.lines() {
        let code = line.split('#').next().unwrap_or("");
        if let Some(rest) = code.strip_prefix("pupil ") {
            let first = rest.split_whitespace().next().unwrap_or("");
            current = Some(if first.starts_with('-') || first.starts_with('[') { "pupil".into() } else { first.to_string() });
        } else if !line.starts_with(' ') {
            current = None;
        }
        let Some(cmd) = &current else { continue };
        let set = out.entry(cmd.clone()).or_default();
        for (i, _) in code.match_indices("--") {
            let flag: String = code[i + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            if !flag.is_empty() {
                set.insert(format!("--{flag}"));
            }
        }
    }
    out
}

#[test]
fn readme_synopsis_names_every_flag_and_no_other() {
    let (clap, readme) = (flags(), readme_flags());
    let mut wrong = vec![];
    for (cmd, have) in &clap {
        let Some(doc) = readme.get(cmd) else {
            wrong.push(format!("`pupil {cmd}` has no line in the README synopsis"));
            continue;
        };
        for f in have.difference(doc) {
            wrong.push(format!("pupil {cmd} {f}: not in the README synopsis"));
        }
        for f in doc.difference(have) {
            wrong.push(format!("pupil {cmd} {f}: in the README synopsis but not a flag"));
        }
    }
    for cmd in readme.keys().filter(|c| !clap.contains_key(*c)) {
        wrong.push(format!("README synopsis shows `pupil {cmd}`, which is not a command"));
    }
    assert!(wrong.is_empty(), "README synopsis vs clap:\n{}", wrong.join("\n"));
}
