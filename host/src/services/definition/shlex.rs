//! Splitting a script into words the way Python's `shlex.split` does (POSIX mode, no
//! comments), for definitions whose script has no shell.

use thiserror::Error;

/// A script that cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum ShlexError {
    /// A quote is not closed.
    #[error("No closing quotation")]
    Unclosed,
    /// A backslash ends the text.
    #[error("No escaped character")]
    Escape,
}

/// Splits a command line like Python's `shlex.split` (POSIX mode, no comments).
pub(crate) fn split(text: &str) -> Result<Vec<String>, ShlexError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(ShlexError::Unclosed),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('\\' | '"' | '$' | '`' | '\n')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(ShlexError::Unclosed),
                        },
                        Some(c) => word.push(c),
                        None => return Err(ShlexError::Unclosed),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(ShlexError::Escape),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_shlex() {
        assert_eq!(
            split(r#"run 'a b' "c\"d" e\ f"#),
            Ok(vec![
                "run".into(),
                "a b".into(),
                "c\"d".into(),
                "e f".into()
            ])
        );
        assert_eq!(split("'open"), Err(ShlexError::Unclosed));
        assert_eq!(split("x\\"), Err(ShlexError::Escape));
    }
}
