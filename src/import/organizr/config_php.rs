//! Reads Organizr's `config.php` without running PHP: a recursive-descent parser for the one
//! shape Organizr writes (`<?php return array(…);` or `return […];`) — nested arrays, single- and
//! double-quoted strings with PHP's escapes, booleans, null, integers and floats, `=>` keys that
//! are strings or integers, trailing commas and comments. Anything else (a variable, a function
//! call, a constant, string interpolation) is refused with its line number: this file must never
//! evaluate or guess at code.

use std::fmt;

/// A PHP array key.
#[derive(Debug, Clone, PartialEq)]
pub enum PhpKey {
    Int(i64),
    Str(String),
}

/// A PHP literal.
#[derive(Debug, Clone, PartialEq)]
pub enum PhpValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Entries in source order; a repeated key keeps its last value, as in PHP.
    Array(Vec<(PhpKey, PhpValue)>),
}

impl PhpValue {
    /// The value under a string key (the last one when repeated).
    pub fn get(&self, key: &str) -> Option<&PhpValue> {
        match self {
            PhpValue::Array(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| matches!(k, PhpKey::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why the file was refused, with the 1-based line where the parser stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses a whole `config.php`; the returned value is the array it returns.
pub fn parse(source: &str) -> Result<PhpValue, ParseError> {
    let mut p = Parser {
        src: source.strip_prefix('\u{feff}').unwrap_or(source).as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.open_tag()?;
    p.skip_trivia()?;
    if !p.keyword("return") {
        return Err(p.error("expected `return array(…);` after `<?php`"));
    }
    p.skip_trivia()?;
    let value = p.value()?;
    if !matches!(value, PhpValue::Array(_)) {
        return Err(p.error("config.php must return an array"));
    }
    p.skip_trivia()?;
    if !p.eat(b';') {
        return Err(p.error("expected `;` after the returned array"));
    }
    p.skip_trivia()?;
    if p.rest().starts_with(b"?>") {
        p.pos += 2;
    }
    if p.rest().iter().any(|b| !b.is_ascii_whitespace()) {
        return Err(p.error("unexpected text after the returned array"));
    }
    Ok(value)
}

/// How deep arrays may nest (Organizr's go three deep): deeper input would run the recursive
/// parser out of stack (an input nested 50,000 deep did, run through the `config_php` fuzz
/// target).
const MAX_DEPTH: usize = 32;

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    /// Arrays open at the cursor.
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &[u8] {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn line(&self) -> usize {
        1 + self.src[..self.pos.min(self.src.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line(),
            message: message.into(),
        }
    }

    /// `<?php` followed by whitespace: PHP prints anything before it, so nothing may come first.
    fn open_tag(&mut self) -> Result<(), ParseError> {
        let tag = self
            .rest()
            .get(..5)
            .map(|t| t.eq_ignore_ascii_case(b"<?php"));
        if tag != Some(true) {
            return Err(self.error("expected the file to start with `<?php`"));
        }
        self.pos += 5;
        match self.peek() {
            Some(b) if b.is_ascii_whitespace() => Ok(()),
            _ => Err(self.error("expected whitespace after `<?php`")),
        }
    }

    /// A case-insensitive keyword not followed by an identifier character.
    fn keyword(&mut self, word: &str) -> bool {
        let n = word.len();
        let matches = self
            .rest()
            .get(..n)
            .is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()))
            && !self
                .src
                .get(self.pos + n)
                .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80);
        if matches {
            self.pos += n;
        }
        matches
    }

    /// Whitespace and `//`, `#` and `/* */` comments.
    fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(b) if b.is_ascii_whitespace() => self.pos += 1,
                Some(b'#') => self.line_comment(),
                Some(b'/') if self.src.get(self.pos + 1) == Some(&b'/') => self.line_comment(),
                Some(b'/') if self.src.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.line();
                    match self.rest()[2..].windows(2).position(|w| w == b"*/") {
                        Some(end) => self.pos += 2 + end + 2,
                        None => {
                            return Err(ParseError {
                                line: start,
                                message: "a `/*` comment is never closed".into(),
                            })
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// A one-line comment ends at the line's end or at `?>`, as in PHP.
    fn line_comment(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'\n' || self.rest().starts_with(b"?>") {
                break;
            }
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<PhpValue, ParseError> {
        match self.peek() {
            Some(b'\'') => Ok(PhpValue::Str(self.single_quoted()?)),
            Some(b'"') => Ok(PhpValue::Str(self.double_quoted()?)),
            Some(b'[') => {
                self.pos += 1;
                self.elements(b']')
            }
            Some(b'-' | b'+' | b'0'..=b'9' | b'.') => self.number(),
            Some(_) if self.keyword("array") => {
                self.skip_trivia()?;
                if !self.eat(b'(') {
                    return Err(self.error("expected `(` after `array`"));
                }
                self.elements(b')')
            }
            Some(_) if self.keyword("true") => Ok(PhpValue::Bool(true)),
            Some(_) if self.keyword("false") => Ok(PhpValue::Bool(false)),
            Some(_) if self.keyword("null") => Ok(PhpValue::Null),
            Some(b'$') => Err(self.error("variables are not allowed in config.php")),
            Some(_) => Err(self.error(format!(
                "expected a value (a string, number, true, false, null or an array), found `{}`",
                self.word_here()
            ))),
            None => Err(self.error("the file ends where a value was expected")),
        }
    }

    /// The text at the cursor up to the next delimiter, for error messages.
    fn word_here(&self) -> String {
        let end = self
            .rest()
            .iter()
            .position(|b| b.is_ascii_whitespace() || b",;()[]".contains(b))
            .unwrap_or(self.rest().len())
            .clamp(1, 40);
        String::from_utf8_lossy(&self.rest()[..end.min(self.rest().len())]).into_owned()
    }

    /// An array's entries up to `close`, at most [`MAX_DEPTH`] arrays deep.
    fn elements(&mut self, close: u8) -> Result<PhpValue, ParseError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error(format!("arrays are nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        let array = self.entries(close);
        self.depth -= 1;
        array
    }

    /// Array entries up to `close`; entries without a key get the next integer key, as in PHP.
    fn entries(&mut self, close: u8) -> Result<PhpValue, ParseError> {
        let mut entries: Vec<(PhpKey, PhpValue)> = Vec::new();
        let mut next_index: i64 = 0;
        loop {
            self.skip_trivia()?;
            if self.eat(close) {
                return Ok(PhpValue::Array(entries));
            }
            let first = self.value()?;
            self.skip_trivia()?;
            let (key, value) = if self.rest().starts_with(b"=>") {
                self.pos += 2;
                self.skip_trivia()?;
                let key = match first {
                    PhpValue::Str(s) => PhpKey::Str(s),
                    PhpValue::Int(i) => PhpKey::Int(i),
                    _ => return Err(self.error("array keys must be strings or integers")),
                };
                (key, self.value()?)
            } else {
                (PhpKey::Int(next_index), first)
            };
            if let PhpKey::Int(i) = key {
                next_index = next_index.max(i.saturating_add(1));
            }
            entries.push((key, value));
            self.skip_trivia()?;
            if self.eat(b',') {
                continue;
            }
            if self.eat(close) {
                return Ok(PhpValue::Array(entries));
            }
            return Err(self.error(format!(
                "expected `,` or `{}` in an array, found `{}`",
                close as char,
                self.word_here()
            )));
        }
    }

    /// `'…'`: only `\\` and `\'` are escapes; every other backslash stays.
    fn single_quoted(&mut self) -> Result<String, ParseError> {
        let start = self.line();
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(unclosed(start)),
                Some(b'\'') => {
                    self.pos += 1;
                    return self.utf8(out);
                }
                Some(b'\\') if matches!(self.src.get(self.pos + 1), Some(b'\\' | b'\'')) => {
                    out.push(self.src[self.pos + 1]);
                    self.pos += 2;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// `"…"` with PHP's escapes; interpolation (`$name`, `{$…}`) is refused.
    fn double_quoted(&mut self) -> Result<String, ParseError> {
        let start = self.line();
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(unclosed(start));
            };
            self.pos += 1;
            match b {
                b'"' => return self.utf8(out),
                b'$' if self.peek().is_some_and(|c| {
                    c.is_ascii_alphabetic() || c == b'_' || c == b'{' || c >= 0x80
                }) =>
                {
                    return Err(self.error("variables inside double-quoted strings are not allowed"))
                }
                b'{' if self.peek() == Some(b'$') => {
                    return Err(self.error("variables inside double-quoted strings are not allowed"))
                }
                b'\\' => self.escape(&mut out)?,
                _ => out.push(b),
            }
        }
    }

    /// One escape after a backslash in a double-quoted string.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), ParseError> {
        let Some(c) = self.peek() else {
            return Ok(());
        };
        let simple = match c {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'v' => Some(0x0b),
            b'e' => Some(0x1b),
            b'f' => Some(0x0c),
            b'\\' | b'$' | b'"' => Some(c),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            self.pos += 1;
            return Ok(());
        }
        let digits = |p: &Self, from: usize, max: usize, radix: u32| {
            p.src[from..]
                .iter()
                .take(max)
                .take_while(|b| (**b as char).is_digit(radix))
                .count()
        };
        match c {
            b'0'..=b'7' => {
                let n = digits(self, self.pos, 3, 8);
                let text = std::str::from_utf8(&self.src[self.pos..self.pos + n]).unwrap_or("0");
                out.push((u32::from_str_radix(text, 8).unwrap_or(0) & 0xff) as u8);
                self.pos += n;
            }
            b'x' if digits(self, self.pos + 1, 2, 16) > 0 => {
                let n = digits(self, self.pos + 1, 2, 16);
                let text =
                    std::str::from_utf8(&self.src[self.pos + 1..self.pos + 1 + n]).unwrap_or("0");
                out.push(u8::from_str_radix(text, 16).unwrap_or(0));
                self.pos += 1 + n;
            }
            b'u' if self.src.get(self.pos + 1) == Some(&b'{') => {
                let close = self.rest().iter().position(|&b| b == b'}');
                let code = close
                    .and_then(|end| std::str::from_utf8(&self.rest()[2..end]).ok())
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.error("invalid `\\u{…}` escape"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(code.encode_utf8(&mut buf).as_bytes());
                self.pos += close.unwrap_or(0) + 1;
            }
            _ => out.push(b'\\'),
        }
        Ok(())
    }

    fn utf8(&self, bytes: Vec<u8>) -> Result<String, ParseError> {
        String::from_utf8(bytes).map_err(|_| self.error("a string is not valid UTF-8"))
    }

    /// An integer (decimal, `0x`, `0b`, `0o`/leading-zero octal, `_` separators) or a float.
    fn number(&mut self) -> Result<PhpValue, ParseError> {
        let negative = match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        self.skip_trivia()?;
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            || (matches!(self.peek(), Some(b'+' | b'-'))
                && matches!(self.src.get(self.pos - 1), Some(b'e' | b'E'))
                && !self.src[start..self.pos].starts_with(b"0x"))
        {
            self.pos += 1;
        }
        let text: String = std::str::from_utf8(&self.src[start..self.pos])
            .unwrap_or_default()
            .replace('_', "");
        let lower = text.to_ascii_lowercase();
        let int = |digits: &str, radix: u32| i64::from_str_radix(digits, radix).ok();
        let parsed = if let Some(h) = lower.strip_prefix("0x") {
            int(h, 16).map(PhpValue::Int)
        } else if let Some(b) = lower.strip_prefix("0b") {
            int(b, 2).map(PhpValue::Int)
        } else if let Some(o) = lower.strip_prefix("0o") {
            int(o, 8).map(PhpValue::Int)
        } else if lower.contains(['.', 'e']) {
            lower.parse::<f64>().ok().map(PhpValue::Float)
        } else if lower.len() > 1 && lower.starts_with('0') {
            int(&lower[1..], 8).map(PhpValue::Int)
        } else if lower.bytes().all(|b| b.is_ascii_digit()) && !lower.is_empty() {
            // Too large for an integer: PHP reads it as a float.
            Some(
                int(&lower, 10)
                    .map(PhpValue::Int)
                    .unwrap_or_else(|| PhpValue::Float(lower.parse().unwrap_or(f64::INFINITY))),
            )
        } else {
            None
        };
        match parsed {
            Some(PhpValue::Int(i)) if negative => Ok(PhpValue::Int(-i)),
            Some(PhpValue::Float(f)) if negative => Ok(PhpValue::Float(-f)),
            Some(v) => Ok(v),
            None => Err(self.error(format!("`{text}` is not a number"))),
        }
    }
}

fn unclosed(line: usize) -> ParseError {
    ParseError {
        line,
        message: "a string starting here is never closed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(body: &str) -> PhpValue {
        parse(&format!("<?php\nreturn {body};\n")).unwrap()
    }

    fn line_of(source: &str) -> usize {
        parse(source).unwrap_err().line
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = |n: usize| format!("<?php return {}{};", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(MAX_DEPTH)).is_ok());
        let err = parse(&deep(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.message.contains("nested"), "{err}");
        // What overflowed the stack before (through the `config_php` fuzz target).
        assert!(parse(&deep(50_000)).is_err());
        let arrays = format!(
            "<?php return {}{};",
            "array(".repeat(100_000),
            ")".repeat(100_000)
        );
        assert!(parse(&arrays).is_err());
    }

    #[test]
    fn organizr_layout_with_nesting_and_types() {
        let v = parse(
            "<?php\nreturn array(\n\t'configVersion' => '2.1.2460',\n\t'authType' => 'both',\n\t'plexStrictFriends' => true,\n\t'ssoOmbi' => false,\n\t'loginAttempts' => 5,\n\t'ratio' => 0.5,\n\t'offset' => -3,\n\t'nested' => array(\n\t\t'0' => 'a',\n\t\t'list' => [1, 2, 3,],\n\t),\n);\n",
        )
        .unwrap();
        assert_eq!(v.get("authType"), Some(&PhpValue::Str("both".into())));
        assert_eq!(v.get("plexStrictFriends"), Some(&PhpValue::Bool(true)));
        assert_eq!(v.get("loginAttempts"), Some(&PhpValue::Int(5)));
        assert_eq!(v.get("ratio"), Some(&PhpValue::Float(0.5)));
        assert_eq!(v.get("offset"), Some(&PhpValue::Int(-3)));
        let nested = v.get("nested").unwrap();
        assert_eq!(nested.get("0"), Some(&PhpValue::Str("a".into())));
        assert_eq!(
            nested.get("list"),
            Some(&PhpValue::Array(vec![
                (PhpKey::Int(0), PhpValue::Int(1)),
                (PhpKey::Int(1), PhpValue::Int(2)),
                (PhpKey::Int(2), PhpValue::Int(3)),
            ]))
        );
    }

    #[test]
    fn short_arrays_keys_comments_and_null() {
        let v = config(
            "[ // Organizr 2.1 writes short arrays\n 'a' => null, # hash comment\n /* block\n comment */ 7 => 'seven', 'b', 'A' => TRUE, 'a' => 'last wins' ]",
        );
        assert_eq!(v.get("a"), Some(&PhpValue::Str("last wins".into())));
        assert_eq!(v.get("A"), Some(&PhpValue::Bool(true)));
        let PhpValue::Array(entries) = &v else {
            panic!()
        };
        assert!(entries.contains(&(PhpKey::Int(7), PhpValue::Str("seven".into()))));
        assert!(entries.contains(&(PhpKey::Int(8), PhpValue::Str("b".into()))));
        assert!(entries.contains(&(PhpKey::Str("a".into()), PhpValue::Null)));
    }

    #[test]
    fn single_quoted_escapes_are_only_backslash_and_quote() {
        // What Organizr's createConfig writes for  O'Brien \ C:\temp\n
        let v = config(r"array('k' => 'O\'Brien \\ C:\temp\n')");
        assert_eq!(
            v.get("k"),
            Some(&PhpValue::Str(r"O'Brien \ C:\temp\n".into()))
        );
    }

    #[test]
    fn double_quoted_escapes() {
        let v = config(r#"array("k" => "tab\there\nq\"d\\ \$x \x41\101 \u{e9} \q {x} $ end")"#);
        assert_eq!(
            v.get("k"),
            Some(&PhpValue::Str(
                "tab\there\nq\"d\\ $x AA é \\q {x} $ end".into()
            ))
        );
    }

    #[test]
    fn numbers() {
        let v = config("array('h' => 0x1F, 'o' => 010, 'b' => 0b101, 'u' => 1_000, 'e' => 1.5e3, 'n' => - 2, 'p' => +4, 'f' => -0.25)");
        assert_eq!(v.get("h"), Some(&PhpValue::Int(31)));
        assert_eq!(v.get("o"), Some(&PhpValue::Int(8)));
        assert_eq!(v.get("b"), Some(&PhpValue::Int(5)));
        assert_eq!(v.get("u"), Some(&PhpValue::Int(1000)));
        assert_eq!(v.get("e"), Some(&PhpValue::Float(1500.0)));
        assert_eq!(v.get("n"), Some(&PhpValue::Int(-2)));
        assert_eq!(v.get("p"), Some(&PhpValue::Int(4)));
        assert_eq!(v.get("f"), Some(&PhpValue::Float(-0.25)));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            line_of("<?php\nreturn array(\n\t'a' => 'x',\n\t'b' => 'y'\n\t'c' => 'z',\n);\n"),
            5
        );
        let e = parse("<?php\nreturn array(\n\t'a' => getenv('SECRET'),\n);\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("getenv"), "{e}");
        let e = parse("<?php\nreturn array(\n\n\t'a' => $secret,\n);").unwrap_err();
        assert_eq!((e.line, e.message.contains("variables")), (4, true));
        assert_eq!(
            line_of("<?php\nreturn array(\n\t'a' => \"hi $name\",\n);"),
            3
        );
        assert_eq!(
            line_of("<?php\nreturn array(\n\t'a' => 'never closed,\n);\n"),
            3
        );
        assert_eq!(line_of("<?php\nreturn array(\n\t'a' => 1\n"), 4);
        assert_eq!(line_of("<?php\n/* open\n\nreturn array();"), 2);
        assert_eq!(line_of("<?php\nreturn array('a' => 1);\necho 'x';\n"), 3);
        assert_eq!(line_of("<?php\nreturn 'text';\n"), 2);
        assert_eq!(line_of("hello <?php return array();"), 1);
        assert_eq!(line_of("<?php\n$config = array();\n"), 2);
        assert_eq!(line_of("<?php\nreturn array(array() => 1);\n"), 2);
        assert_eq!(line_of("<?php\nreturn array('a' => 1.2.3);\n"), 2);
    }

    #[test]
    fn closing_tag_and_bom_are_accepted() {
        let v = parse("\u{feff}<?php\nreturn array('a' => 1); // done\n?>\n").unwrap();
        assert_eq!(v.get("a"), Some(&PhpValue::Int(1)));
    }
}
