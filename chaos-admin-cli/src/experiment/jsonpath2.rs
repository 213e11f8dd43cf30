//! JSONPath as `jsonpath2` 0.4.5 reads and evaluates it — the library chaostoolkit-lib's
//! `jsonpath` tolerance uses. It differs from RFC 9535 in ways that decide whether a
//! tolerance is met, so paths written for Chaos Toolkit must be evaluated by its rules
//! (grammar: `jsonpath2/parser/JSONPath.g4`; semantics: its `nodes`, `subscripts` and
//! `expressions` modules):
//!
//! - a filter `[?(...)]` tests the current value itself, not its children: the children
//!   of a list are filtered with `$.items[*][?(@.status = "ok")]`, and
//!   `$.items[?(@.status = "ok")]` matches nothing;
//! - comparisons are `=`, `!=`, `<`, `<=`, `>`, `>=` (ordering only between numbers), the
//!   connectives are the words `and`, `or`, `not`, and `and` binds looser than `or`;
//! - strings are double-quoted only, and their escapes are kept as written;
//! - `[length()]`, `.length()`, `keys()`, `values()`, `entries()`, `charAt(i)` and
//!   `substring(i[, j])` are calls on the current value; `[$.key]`/`[@.i]` index by the
//!   value of a path;
//! - slices follow its own start rule (`[-9:]` on three items starts at 0).
//!
//! Values compare with Python's `==` (`1 == 1.0 == True`).

use serde_json::{Map, Number, Value};

use super::tolerance::py_eq;

/// The most tokens a path may have.
pub const MAX_TOKENS: usize = 512;

/// A path that `jsonpath2` would refuse, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path(Node);

impl Path {
    /// Parses a path (it must start with `$`).
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let tokens = lex(text)?;
        // Parsing and evaluation recurse once per step: bound them (real paths have tens
        // of tokens; jsonpath2 itself overflows Python's stack near a thousand).
        if tokens.len() > MAX_TOKENS {
            return Err(PathError(format!(
                "the path has {} tokens: allowed are at most {MAX_TOKENS}",
                tokens.len()
            )));
        }
        let mut parser = Parser { tokens, at: 0 };
        parser.expect(&Token::Root)?;
        let next = parser.optional_subscript()?;
        if parser.at != parser.tokens.len() {
            return Err(parser.unexpected());
        }
        Ok(Path(Node::Root(Box::new(next))))
    }

    /// The values the path matches in `document`, in `jsonpath2`'s order.
    pub fn matches(&self, document: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        self.0.walk(document, document, &mut out);
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Current,
    Descent,
    Root,
    Dot,
    Star,
    And,
    Or,
    Not,
    Op(Op),
    True,
    False,
    Null,
    BraceLeft,
    BraceRight,
    BracketLeft,
    BracketRight,
    Colon,
    Comma,
    ParenLeft,
    ParenRight,
    Question,
    Id(String),
    /// The text between the quotes, escapes as written.
    Str(String),
    Number(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn lex(text: &str) -> Result<Vec<Token>, PathError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let error = |i: usize| PathError(format!("token recognition error at column {}", i + 1));
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, len) = match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '@' => (Token::Current, 1),
            '$' => (Token::Root, 1),
            '.' if next == Some('.') => (Token::Descent, 2),
            '.' => (Token::Dot, 1),
            '*' => (Token::Star, 1),
            '=' => (Token::Op(Op::Eq), 1),
            '!' if next == Some('=') => (Token::Op(Op::Ne), 2),
            '<' if next == Some('=') => (Token::Op(Op::Le), 2),
            '<' => (Token::Op(Op::Lt), 1),
            '>' if next == Some('=') => (Token::Op(Op::Ge), 2),
            '>' => (Token::Op(Op::Gt), 1),
            '{' => (Token::BraceLeft, 1),
            '}' => (Token::BraceRight, 1),
            '[' => (Token::BracketLeft, 1),
            ']' => (Token::BracketRight, 1),
            ':' => (Token::Colon, 1),
            ',' => (Token::Comma, 1),
            '(' => (Token::ParenLeft, 1),
            ')' => (Token::ParenRight, 1),
            '?' => (Token::Question, 1),
            '"' => {
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(error(i)),
                        Some('"') => break,
                        Some('\\') => {
                            let escape_len = match chars.get(j + 1) {
                                Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => 2,
                                Some('u')
                                    if chars
                                        .get(j + 2..j + 6)
                                        .is_some_and(|h| h.iter().all(char::is_ascii_hexdigit)) =>
                                {
                                    6
                                }
                                _ => return Err(error(j)),
                            };
                            j += escape_len;
                        }
                        Some(c) if u32::from(*c) < 0x20 => return Err(error(j)),
                        Some(_) => j += 1,
                    }
                }
                let raw: String = chars[i + 1..j].iter().collect();
                (Token::Str(raw), j + 1 - i)
            }
            '-' | '0'..='9' => {
                let len = number_len(&chars[i..]).ok_or_else(|| error(i))?;
                (Token::Number(chars[i..i + len].iter().collect()), len)
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| **c == '_' || c.is_ascii_alphanumeric())
                    .count();
                let word: String = chars[i..i + len].iter().collect();
                let token = match word.as_str() {
                    "and" => Token::And,
                    "or" => Token::Or,
                    "not" => Token::Not,
                    "true" => Token::True,
                    "false" => Token::False,
                    "null" => Token::Null,
                    _ => Token::Id(word),
                };
                (token, len)
            }
            _ => return Err(error(i)),
        };
        tokens.push(token);
        i += len;
    }
    Ok(tokens)
}

/// The length of the NUMBER token at the start: `-? (0|[1-9][0-9]*) (. [0-9]+)? ([Ee][+-]? INT)?`.
fn number_len(chars: &[char]) -> Option<usize> {
    let mut i = usize::from(chars.first() == Some(&'-'));
    let int = |from: usize| -> Option<usize> {
        match chars.get(from) {
            Some('0') => Some(from + 1),
            Some('1'..='9') => Some(
                from + chars[from..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count(),
            ),
            _ => None,
        }
    };
    i = int(i)?;
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        i += 1 + chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(i + 1), Some('+' | '-')));
        if let Some(end) = int(i + 1 + sign) {
            i = end;
        }
    }
    Some(i)
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Terminal,
    Root(Box<Node>),
    Current(Box<Node>),
    Subscript(Vec<Subscript>, Box<Node>),
    /// `..`: the inner subscript node here and at every descendant (depth first).
    Descent(Box<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Subscript {
    Key(String),
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Wildcard,
    Filter(Expr),
    /// `[$.path]` / `[@.path]`: index by the path's values.
    ByPath(Node),
    Call(Function, Vec<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    CharAt,
    Entries,
    Keys,
    Length,
    Substring,
    Values,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Node),
    Value(Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Op, Operand, Operand),
    Some(Operand),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.at + offset)
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &Token) -> Result<(), PathError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn unexpected(&self) -> PathError {
        match self.peek() {
            Some(token) => PathError(format!("unexpected {token:?} at token {}", self.at + 1)),
            None => PathError("unexpected end of the path".to_owned()),
        }
    }

    /// `subscript?`: a terminal when none follows.
    fn optional_subscript(&mut self) -> Result<Node, PathError> {
        match self.peek() {
            Some(Token::Descent) => {
                self.at += 1;
                let subscripts = if self.peek() == Some(&Token::BracketLeft) {
                    self.subscriptables()?
                } else {
                    vec![self.bareword()?]
                };
                let next = self.optional_subscript()?;
                Ok(Node::Descent(Box::new(Node::Subscript(
                    subscripts,
                    Box::new(next),
                ))))
            }
            Some(Token::Dot) => {
                self.at += 1;
                let subscript = self.bareword()?;
                let next = self.optional_subscript()?;
                Ok(Node::Subscript(vec![subscript], Box::new(next)))
            }
            Some(Token::BracketLeft) => {
                let subscripts = self.subscriptables()?;
                let next = self.optional_subscript()?;
                Ok(Node::Subscript(subscripts, Box::new(next)))
            }
            _ => Ok(Node::Terminal),
        }
    }

    fn bareword(&mut self) -> Result<Subscript, PathError> {
        match self.peek().cloned() {
            Some(Token::Star) => {
                self.at += 1;
                Ok(Subscript::Wildcard)
            }
            Some(Token::Id(name)) => {
                self.at += 1;
                if self.peek() == Some(&Token::ParenLeft) {
                    self.call(&name)
                } else {
                    Ok(Subscript::Key(name))
                }
            }
            _ => Err(self.unexpected()),
        }
    }

    fn call(&mut self, name: &str) -> Result<Subscript, PathError> {
        let function = match name {
            "charAt" => Function::CharAt,
            "entries" => Function::Entries,
            "keys" => Function::Keys,
            "length" => Function::Length,
            "substring" => Function::Substring,
            "values" => Function::Values,
            other => {
                return Err(PathError(format!(
                    "callable subscript '{other}' not found (allowed: charAt, entries, keys, length, substring, values)"
                )));
            }
        };
        self.expect(&Token::ParenLeft)?;
        let mut args = Vec::new();
        if !self.eat(&Token::ParenRight) {
            loop {
                args.push(self.operand()?);
                if self.eat(&Token::ParenRight) {
                    break;
                }
                self.expect(&Token::Comma)?;
            }
        }
        Ok(Subscript::Call(function, args))
    }

    fn subscriptables(&mut self) -> Result<Vec<Subscript>, PathError> {
        self.expect(&Token::BracketLeft)?;
        let mut out = vec![self.subscriptable()?];
        while self.eat(&Token::Comma) {
            out.push(self.subscriptable()?);
        }
        self.expect(&Token::BracketRight)?;
        Ok(out)
    }

    fn integer(text: &str) -> Result<i64, PathError> {
        text.parse::<i64>()
            .map_err(|_| PathError(format!("{text} is not an integer index")))
    }

    fn subscriptable(&mut self) -> Result<Subscript, PathError> {
        match self.peek().cloned() {
            Some(Token::Str(text)) => {
                self.at += 1;
                Ok(Subscript::Key(text))
            }
            Some(Token::Number(text)) => {
                self.at += 1;
                let start = Self::integer(&text)?;
                if self.peek() == Some(&Token::Colon) {
                    self.slice(Some(start))
                } else {
                    Ok(Subscript::Index(start))
                }
            }
            Some(Token::Colon) => self.slice(None),
            Some(Token::Star) => {
                self.at += 1;
                Ok(Subscript::Wildcard)
            }
            Some(Token::Question) => {
                self.at += 1;
                self.expect(&Token::ParenLeft)?;
                let expr = self.expression()?;
                self.expect(&Token::ParenRight)?;
                Ok(Subscript::Filter(expr))
            }
            Some(Token::Root | Token::Current) => Ok(Subscript::ByPath(self.inner_path()?)),
            Some(Token::Id(name)) if self.peek_at(1) == Some(&Token::ParenLeft) => {
                self.at += 1;
                self.call(&name)
            }
            _ => Err(self.unexpected()),
        }
    }

    /// `: NUMBER? (: NUMBER?)?` after an optional start.
    fn slice(&mut self, start: Option<i64>) -> Result<Subscript, PathError> {
        self.expect(&Token::Colon)?;
        let number = |parser: &mut Parser| -> Result<Option<i64>, PathError> {
            match parser.peek().cloned() {
                Some(Token::Number(text)) => {
                    parser.at += 1;
                    Self::integer(&text).map(Some)
                }
                _ => Ok(None),
            }
        };
        let end = number(self)?;
        let step = if self.eat(&Token::Colon) {
            number(self)?
        } else {
            None
        };
        Ok(Subscript::Slice(start, end, step))
    }

    /// `jsonpath_`: `$` or `@` and an optional subscript.
    fn inner_path(&mut self) -> Result<Node, PathError> {
        let root = match self.peek() {
            Some(Token::Root) => true,
            Some(Token::Current) => false,
            _ => return Err(self.unexpected()),
        };
        self.at += 1;
        let next = Box::new(self.optional_subscript()?);
        Ok(if root {
            Node::Root(next)
        } else {
            Node::Current(next)
        })
    }

    /// `jsonpath__`: a path or a JSON value.
    fn operand(&mut self) -> Result<Operand, PathError> {
        match self.peek() {
            Some(Token::Root | Token::Current) => Ok(Operand::Path(self.inner_path()?)),
            _ => Ok(Operand::Value(self.value()?)),
        }
    }

    fn value(&mut self) -> Result<Value, PathError> {
        let token = self.peek().cloned().ok_or_else(|| self.unexpected())?;
        self.at += 1;
        match token {
            Token::Str(text) => Ok(Value::String(text)),
            Token::Number(text) => number_value(&text),
            Token::True => Ok(Value::Bool(true)),
            Token::False => Ok(Value::Bool(false)),
            Token::Null => Ok(Value::Null),
            Token::BraceLeft => {
                let mut map = Map::new();
                if self.eat(&Token::BraceRight) {
                    return Ok(Value::Object(map));
                }
                loop {
                    let Some(Token::Str(key)) = self.peek().cloned() else {
                        return Err(self.unexpected());
                    };
                    self.at += 1;
                    self.expect(&Token::Colon)?;
                    let value = self.value()?;
                    map.insert(key, value);
                    if self.eat(&Token::BraceRight) {
                        return Ok(Value::Object(map));
                    }
                    self.expect(&Token::Comma)?;
                }
            }
            Token::BracketLeft => {
                let mut items = Vec::new();
                if self.eat(&Token::BracketRight) {
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    if self.eat(&Token::BracketRight) {
                        return Ok(Value::Array(items));
                    }
                    self.expect(&Token::Comma)?;
                }
            }
            _ => {
                self.at -= 1;
                Err(self.unexpected())
            }
        }
    }

    /// `andExpression`: `orExpression (and andExpression)?` (so `and` binds looser).
    fn expression(&mut self) -> Result<Expr, PathError> {
        let mut all = vec![self.or_expression()?];
        while self.eat(&Token::And) {
            all.push(self.or_expression()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Expr::And(all)
        })
    }

    fn or_expression(&mut self) -> Result<Expr, PathError> {
        let mut any = vec![self.not_expression()?];
        while self.eat(&Token::Or) {
            any.push(self.not_expression()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Expr::Or(any)
        })
    }

    fn not_expression(&mut self) -> Result<Expr, PathError> {
        if self.eat(&Token::Not) {
            return Ok(Expr::Not(Box::new(self.not_expression()?)));
        }
        if self.eat(&Token::ParenLeft) {
            let expr = self.expression()?;
            self.expect(&Token::ParenRight)?;
            return Ok(expr);
        }
        let left = self.operand()?;
        if let Some(Token::Op(op)) = self.peek().cloned() {
            self.at += 1;
            let right = self.operand()?;
            return Ok(Expr::Compare(op, left, right));
        }
        Ok(Expr::Some(left))
    }
}

/// A NUMBER as Python's `int()` or (with `.`, `e` or `E`) `float()` reads it.
fn number_value(text: &str) -> Result<Value, PathError> {
    let invalid = || PathError(format!("{text} is not a number"));
    if text.contains(['.', 'e', 'E']) {
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(invalid)
    } else {
        text.parse::<i64>().map(Value::from).map_err(|_| invalid())
    }
}

/// Python's `isinstance(x, int)`: integers and booleans.
fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Python's `isinstance(x, (float, int))` (booleans included).
fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Python's `bool(x)`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// The item at a Python index (negative from the end), if any.
fn item(items: &[Value], index: i64) -> Option<&Value> {
    let len = i64::try_from(items.len()).ok()?;
    let index = if index < 0 { index + len } else { index };
    usize::try_from(index).ok().and_then(|i| items.get(i))
}

/// The indices of `range(start, stop, step)` that can address a list of `len` items
/// (from `-len` to `len - 1`; others match nothing), in order. Computed in `i128` so no
/// bound written in a path overflows.
fn range_indices(start: i64, stop: i64, step: i64, len: i64) -> Vec<i64> {
    let (start, stop, step, len) = (
        i128::from(start),
        i128::from(stop),
        i128::from(step),
        i128::from(len),
    );
    let mut out = Vec::new();
    let mut push = |i: i128| {
        if let Ok(i) = i64::try_from(i) {
            out.push(i);
        }
    };
    if step > 0 {
        let mut i = start;
        if i < -len {
            // Skip ahead to the first index that can match, keeping the step.
            let gap = -len - i;
            i += (gap + step - 1) / step * step;
        }
        while i < stop && i < len {
            push(i);
            i += step;
        }
    } else if step < 0 {
        let mut i = start;
        if i >= len {
            let gap = i - (len - 1);
            i -= (gap - step - 1) / -step * -step;
        }
        while i > stop && i >= -len {
            push(i);
            i += step;
        }
    }
    out
}

impl Node {
    fn walk(&self, root: &Value, current: &Value, out: &mut Vec<Value>) {
        match self {
            Node::Terminal => out.push(current.clone()),
            Node::Root(next) => next.walk(root, root, out),
            Node::Current(next) => next.walk(root, current, out),
            Node::Subscript(subscripts, next) => {
                for subscript in subscripts {
                    for value in subscript.matches(root, current) {
                        next.walk(root, &value, out);
                    }
                }
            }
            Node::Descent(inner) => {
                inner.walk(root, current, out);
                for child in Subscript::Wildcard.matches(root, current) {
                    self.walk(root, &child, out);
                }
            }
        }
    }

    fn values(&self, root: &Value, current: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        self.walk(root, current, &mut out);
        out
    }
}

impl Operand {
    fn values(&self, root: &Value, current: &Value) -> Vec<Value> {
        match self {
            Operand::Path(node) => node.values(root, current),
            Operand::Value(value) => vec![value.clone()],
        }
    }
}

impl Expr {
    fn holds(&self, root: &Value, current: &Value) -> bool {
        match self {
            Expr::And(all) => all.iter().all(|e| e.holds(root, current)),
            Expr::Or(any) => any.iter().any(|e| e.holds(root, current)),
            Expr::Not(expr) => !expr.holds(root, current),
            Expr::Some(Operand::Path(node)) => !node.values(root, current).is_empty(),
            Expr::Some(Operand::Value(value)) => truthy(value),
            Expr::Compare(op, left, right) => {
                let lefts = left.values(root, current);
                let rights = right.values(root, current);
                lefts
                    .iter()
                    .any(|l| rights.iter().any(|r| compare(*op, l, r)))
            }
        }
    }
}

fn compare(op: Op, left: &Value, right: &Value) -> bool {
    match op {
        Op::Eq => py_eq(left, right),
        Op::Ne => !py_eq(left, right),
        _ => match (as_number(left), as_number(right)) {
            (Some(l), Some(r)) => match op {
                Op::Lt => l < r,
                Op::Le => l <= r,
                Op::Gt => l > r,
                _ => l >= r,
            },
            _ => false,
        },
    }
}

impl Subscript {
    fn matches(&self, root: &Value, current: &Value) -> Vec<Value> {
        match self {
            Subscript::Key(key) => match current {
                Value::Object(map) => map.get(key).cloned().into_iter().collect(),
                _ => Vec::new(),
            },
            Subscript::Index(index) => match current {
                Value::Array(items) => item(items, *index).cloned().into_iter().collect(),
                _ => Vec::new(),
            },
            Subscript::Slice(start, end, step) => {
                let Value::Array(items) = current else {
                    return Vec::new();
                };
                let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                // jsonpath2's rule: a negative start counts from the end, or is 0 when
                // it reaches past the first item.
                let start = start.map_or(0, |s| {
                    if s < 0 {
                        if s.unsigned_abs() < len.unsigned_abs() {
                            s + len
                        } else {
                            0
                        }
                    } else {
                        s
                    }
                });
                let stop = end.map_or(len, |e| if e < 0 { e.saturating_add(len) } else { e });
                // `range()` refuses a step of 0: jsonpath2 raises, nothing matches here.
                range_indices(start, stop, step.unwrap_or(1), len)
                    .into_iter()
                    .filter_map(|i| item(items, i).cloned())
                    .collect()
            }
            Subscript::Wildcard => match current {
                Value::Object(map) => map.values().cloned().collect(),
                Value::Array(items) => items.clone(),
                _ => Vec::new(),
            },
            Subscript::Filter(expr) => {
                if expr.holds(root, current) {
                    vec![current.clone()]
                } else {
                    Vec::new()
                }
            }
            Subscript::ByPath(node) => node
                .values(root, current)
                .into_iter()
                .flat_map(|value| match value {
                    Value::String(key) => Subscript::Key(key).matches(root, current),
                    other => match as_int(&other) {
                        Some(index) => Subscript::Index(index).matches(root, current),
                        None => Vec::new(),
                    },
                })
                .collect(),
            Subscript::Call(function, args) => {
                // Every combination of the arguments' values (itertools.product).
                let mut combinations: Vec<Vec<Value>> = vec![Vec::new()];
                for arg in args {
                    let values = arg.values(root, current);
                    combinations = combinations
                        .into_iter()
                        .flat_map(|prefix| {
                            values.iter().map(move |v| {
                                let mut next = prefix.clone();
                                next.push(v.clone());
                                next
                            })
                        })
                        .collect();
                }
                combinations
                    .iter()
                    .filter_map(|args| call(*function, args, current))
                    .collect()
            }
        }
    }
}

/// Python's `s[a:b]` on code points (negative from the end, clamped).
fn substring(chars: &[char], from: i64, to: Option<i64>) -> String {
    let len = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    let clamp = |i: i64| -> usize {
        let i = if i < 0 { (i + len).max(0) } else { i.min(len) };
        usize::try_from(i).unwrap_or(0)
    };
    let (from, to) = (clamp(from), clamp(to.unwrap_or(len)));
    if from >= to {
        String::new()
    } else {
        chars[from..to].iter().collect()
    }
}

fn call(function: Function, args: &[Value], current: &Value) -> Option<Value> {
    match (function, current, args) {
        (Function::Length, Value::Array(items), []) => Some(Value::from(items.len())),
        (Function::Length, Value::String(text), []) => Some(Value::from(text.chars().count())),
        (Function::Keys, Value::Object(map), []) => Some(Value::Array(
            map.keys().map(|k| Value::String(k.clone())).collect(),
        )),
        (Function::Keys, Value::Array(items), []) => {
            Some(Value::Array((0..items.len()).map(Value::from).collect()))
        }
        (Function::Values, Value::Object(map), []) => {
            Some(Value::Array(map.values().cloned().collect()))
        }
        (Function::Values, Value::Array(_), []) => Some(current.clone()),
        (Function::Entries, Value::Object(map), []) => Some(Value::Array(
            map.iter()
                .map(|(k, v)| Value::Array(vec![Value::String(k.clone()), v.clone()]))
                .collect(),
        )),
        (Function::Entries, Value::Array(items), []) => Some(Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| Value::Array(vec![Value::from(i), v.clone()]))
                .collect(),
        )),
        (Function::CharAt, Value::String(text), [index]) => {
            let chars: Vec<char> = text.chars().collect();
            let index = as_int(index)?;
            let len = i64::try_from(chars.len()).ok()?;
            let at = if index < 0 { index + len } else { index };
            usize::try_from(at)
                .ok()
                .and_then(|i| chars.get(i))
                .map(|c| Value::String(c.to_string()))
        }
        (Function::Substring, Value::String(text), [from]) => {
            let chars: Vec<char> = text.chars().collect();
            Some(Value::String(substring(&chars, as_int(from)?, None)))
        }
        (Function::Substring, Value::String(text), [from, to]) => {
            let chars: Vec<char> = text.chars().collect();
            Some(Value::String(substring(
                &chars,
                as_int(from)?,
                Some(as_int(to)?),
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "items": [{"id": 1, "status": "ok", "n": 5}, {"id": 2, "status": "bad", "n": 15}],
            "headers": {"Content-Type": "application/json"},
            "a": {"b": {"c": 3}},
            "list": [1, 2, 3, 4],
            "one": {"status": "ok", "id": 9},
            "obj": {"x": {"s": "ok"}, "y": {"s": "no"}},
            "word": "héllo"
        })
    }

    fn query(path: &str) -> Result<Value, PathError> {
        Path::parse(path).map(|p| Value::Array(p.matches(&doc())))
    }

    /// Each case was evaluated by jsonpath2 0.4.5 (Python) on the same document.
    #[test]
    fn evaluates_as_jsonpath2_does() {
        let cases: &[(&str, Value)] = &[
            ("$.items[*].id", json!([1, 2])),
            ("$.items[?(@.status = \"ok\")].id", json!([])),
            ("$.items[*][?(@.status = \"ok\")].id", json!([1])),
            ("$.items[*][?(@.n > 10)].id", json!([2])),
            (
                "$.items[*][?(@.n > 1 and @.status != \"ok\")].id",
                json!([2]),
            ),
            ("$.items[*][?(not @.n > 10)].id", json!([1])),
            ("$.items[*][?(@.status)].id", json!([1, 2])),
            ("$.one[?(@.status = \"ok\")].id", json!([9])),
            ("$.obj[*][?(@.s = \"ok\")]", json!([{"s": "ok"}])),
            ("$.list[*][?(@ > 2)]", json!([3, 4])),
            ("$.list[?(@ > 2)]", json!([])),
            ("$..[?(@.status = \"ok\")].id", json!([1, 9])),
            ("$.headers[\"Content-Type\"]", json!(["application/json"])),
            ("$..c", json!([3])),
            ("$.list[0:2]", json!([1, 2])),
            ("$.list[-1]", json!([4])),
            ("$.list[length()]", json!([4])),
            ("$.items.length()", json!([2])),
            ("$.items[?(@.id = 1 or @.id = 2)].id", json!([])),
            ("$[\"a\"][\"b\"].c", json!([3])),
            ("$.items[0,1].id", json!([1, 2])),
            ("$.missing", json!([])),
            ("$", json!([doc()])),
        ];
        for (path, expected) in cases {
            assert_eq!(query(path).as_ref(), Ok(expected), "{path}");
        }
    }

    #[test]
    fn slices_indexes_and_calls() {
        let cases: &[(&str, Value)] = &[
            ("$.list[-9:]", json!([1, 2, 3, 4])),
            ("$.list[-2:]", json!([3, 4])),
            ("$.list[:-1]", json!([1, 2, 3])),
            ("$.list[::2]", json!([1, 3])),
            ("$.list[3:0:-1]", json!([4, 3, 2])),
            ("$.list[1:3:]", json!([2, 3])),
            ("$.list[9]", json!([])),
            ("$.list[$.one.id]", json!([])),
            ("$.list[$.items[0].id]", json!([2])),
            ("$.obj[$.items[1].status]", json!([])),
            ("$.obj.keys()", json!([["x", "y"]])),
            ("$.list.values()", json!([[1, 2, 3, 4]])),
            ("$.one.entries()", json!([[["status", "ok"], ["id", 9]]])),
            ("$.word.charAt(1)", json!(["é"])),
            ("$.word.charAt(-1)", json!(["o"])),
            ("$.word.substring(1, 3)", json!(["él"])),
            ("$.word.substring(-2)", json!(["lo"])),
            ("$.word.length()", json!([5])),
            ("$.items[*][?(@.n = 5.0)].id", json!([1])),
            ("$.items[*][?(@.status < \"z\")].id", json!([])),
            // Bounds at the ends of i64 neither overflow nor walk the whole range.
            (
                "$.list[-9223372036854775808:9223372036854775807]",
                json!([1, 2, 3, 4]),
            ),
            (
                "$.list[9223372036854775807:0:-9223372036854775808]",
                json!([]),
            ),
            (
                "$.list[9223372036854775807:-5:-9223372036854775807]",
                json!([1]),
            ),
            ("$.list[::0]", json!([])),
        ];
        for (path, expected) in cases {
            assert_eq!(query(path).as_ref(), Ok(expected), "{path}");
        }
    }

    #[test]
    fn refuses_what_jsonpath2_refuses() {
        for bad in [
            "$.items[?(@.status == \"ok\")]",
            "$.headers['Content-Type']",
            "items[0]",
            "$.list[1.5]",
            "$.a.nope()",
            "$.a[",
            "$.a b",
            "",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
        let deep = format!("${}", ".a".repeat(3000));
        let err = Path::parse(&deep).expect_err("too long");
        assert!(err.0.contains("at most 512"), "{err}");
        let nested = format!("$.a[?({}@.b{})]", "(".repeat(2000), ")".repeat(2000));
        assert!(Path::parse(&nested).is_err());
    }
}
