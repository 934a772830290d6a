//! The one place ONNX names become Rust: identifiers are sanitised (ASCII alphanumerics and `_`
//! only), kept off keywords and reserved names, and deduplicated; comment text is escaped so no
//! name can end a comment or smuggle control or bidi characters into the source.

use std::collections::BTreeSet;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
];

/// Hands out unique identifiers.
#[derive(Debug, Default)]
pub struct Namer {
    used: BTreeSet<String>,
}

impl Namer {
    /// A namer that will never hand out `reserved` names.
    pub fn with_reserved(reserved: &[&str]) -> Self {
        Namer {
            used: reserved.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A fresh identifier derived from `base` (already in the wanted case), suffixed `_2`, `_3`...
    /// if taken.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

/// Splits `s` into lowercase ASCII alphanumeric words.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c.to_ascii_lowercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn fix(ident: String, fallback: &str) -> String {
    let ident = if ident.is_empty() {
        fallback.to_string()
    } else {
        ident
    };
    let ident = if ident.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{fallback}_{ident}")
    } else {
        ident
    };
    if KEYWORDS.contains(&ident.as_str()) || ident == "_" {
        format!("{ident}_")
    } else {
        ident
    }
}

/// `snake_case` identifier for any string.
pub fn snake(s: &str) -> String {
    fix(words(s).join("_"), "v")
}

/// `UpperCamelCase` identifier for any string.
pub fn camel(s: &str) -> String {
    let w: String = words(s)
        .iter()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    fix(w, "Model")
}

/// `SCREAMING_SNAKE_CASE` identifier for any string.
pub fn upper(s: &str) -> String {
    fix(words(s).join("_").to_ascii_uppercase(), "V")
}

/// Text safe inside a `//` comment: printable ASCII only, everything else escaped as `\u{..}`.
pub fn comment_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' '..='~' if c != '\\' => o.push(c),
            '\\' => o.push_str("\\\\"),
            c => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitises() {
        assert_eq!(snake("/blocks.0/Conv_1"), "blocks_0_conv_1");
        assert_eq!(snake("fn"), "fn_");
        assert_eq!(snake("9lives"), "v_9lives");
        assert_eq!(snake("\"; drop */\n"), "drop");
        assert_eq!(snake("éé"), "v");
        assert_eq!(camel("ghostnet_100_ts13"), "Ghostnet100Ts13");
        assert_eq!(camel("self"), "Self_");
        assert_eq!(upper("input.1"), "INPUT_1");
        assert_eq!(comment_text("a*/\nb\u{202e}"), "a*/\\u{a}b\\u{202e}");
    }

    #[test]
    fn dedupes() {
        let mut n = Namer::with_reserved(&["arena"]);
        assert_eq!(n.fresh("arena"), "arena_2");
        assert_eq!(n.fresh("x"), "x");
        assert_eq!(n.fresh("x"), "x_2");
    }
}
