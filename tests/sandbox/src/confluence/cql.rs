//! The CQL subset the bridge uses (docs §3): `field OP value` with `=`, `!=`, `~`, `!~`, `>`,
//! `>=`, `<`, `<=`, `[NOT] IN (...)`; `AND`, `OR`, `NOT`, parentheses; `ORDER BY field
//! asc|desc`. Fields: `type`, `space`/`space.key`, `space.type`, `title`, `text`, `id`/`content`,
//! `ancestor`, `parent`, `container`, `label`, `creator`, `contributor`, `watcher`, `created`,
//! `lastmodified` (field names case-insensitive). Values: double- or single-quoted literals
//! with backslash escapes (`\"`, `\\`), bare words, and the date functions `now("-7d")`,
//! `startOfDay()`… Date literals: `yyyy-MM-dd`, `yyyy/MM/dd`, optionally ` HH:mm`.
//! `text ~ "\"exact phrase\""` matches the phrase; otherwise every word must occur (`*` as a
//! trailing wildcard). Anything else is a parse error, answered 400.

use super::repr::plain_text;
use super::state::{Content, Kind, State};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Op(&'static str),
    /// Quoted literal (unescaped).
    Str(String),
    Word(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Lit(String),
    Func(String, Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Clause {
        field: String,
        op: String,
        values: Vec<Value>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cql {
    pub filter: Option<Expr>,
    /// `(field, descending)`.
    pub order: Vec<(String, bool)>,
}

const FIELDS: &[&str] = &[
    "type",
    "space",
    "space.key",
    "space.type",
    "title",
    "text",
    "id",
    "content",
    "ancestor",
    "parent",
    "container",
    "label",
    "creator",
    "contributor",
    "watcher",
    "created",
    "lastmodified",
];

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '!' if next == Some('=') => {
                out.push(Tok::Op("!="));
                i += 2;
            }
            '!' if next == Some('~') => {
                out.push(Tok::Op("!~"));
                i += 2;
            }
            '>' | '<' if next == Some('=') => {
                out.push(Tok::Op(if c == '>' { ">=" } else { "<=" }));
                i += 2;
            }
            '>' => {
                out.push(Tok::Op(">"));
                i += 1;
            }
            '<' => {
                out.push(Tok::Op("<"));
                i += 1;
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            '~' => {
                out.push(Tok::Op("~"));
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string starting at {lit:?}")),
                        Some('\\') => {
                            let e = chars.get(i + 1).ok_or("dangling backslash")?;
                            lit.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => *other,
                            });
                            i += 2;
                        }
                        Some(q) if *q == quote => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            lit.push(*other);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(lit));
            }
            c if c.is_alphanumeric() || "_.-+*:/@".contains(c) => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || "_.-+*:/@".contains(chars[i]))
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn expect(&mut self, t: &Tok) -> Result<(), String> {
        match self.bump() {
            Some(ref got) if got == t => Ok(()),
            got => Err(format!("expected {t:?}, got {got:?}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.not()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(&Tok::RParen)?;
            return Ok(e);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, String> {
        let field = match self.bump() {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            got => return Err(format!("expected a field, got {got:?}")),
        };
        if !FIELDS.contains(&field.as_str()) {
            return Err(format!("unknown field {field:?}"));
        }
        let op = match self.bump() {
            Some(Tok::Op(o)) => o.to_owned(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => "in".to_owned(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") && self.keyword("in") => {
                self.pos += 1;
                "not in".to_owned()
            }
            got => return Err(format!("expected an operator after {field}, got {got:?}")),
        };
        let values = if op.ends_with("in") {
            self.expect(&Tok::LParen)?;
            let mut v = vec![self.value()?];
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                v.push(self.value()?);
            }
            self.expect(&Tok::RParen)?;
            v
        } else {
            vec![self.value()?]
        };
        Ok(Expr::Clause { field, op, values })
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.bump() {
            Some(Tok::Str(s)) => Ok(Value::Lit(s)),
            Some(Tok::Word(w)) if self.peek() == Some(&Tok::LParen) => {
                self.pos += 1;
                let mut args = Vec::new();
                while self.peek() != Some(&Tok::RParen) {
                    match self.bump() {
                        Some(Tok::Str(s) | Tok::Word(s)) => args.push(s),
                        Some(Tok::Comma) => {}
                        got => return Err(format!("bad function argument {got:?}")),
                    }
                }
                self.pos += 1;
                Ok(Value::Func(w.to_ascii_lowercase(), args))
            }
            Some(Tok::Word(w))
                if ["and", "or", "not", "order"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Err(format!("expected a value, got keyword {w}"))
            }
            Some(Tok::Word(w)) => Ok(Value::Lit(w)),
            got => Err(format!("expected a value, got {got:?}")),
        }
    }
}

pub fn parse(cql: &str) -> Result<Cql, String> {
    let toks = tokenize(cql)?;
    let mut p = Parser { toks, pos: 0 };
    let filter = if p.peek().is_none() || p.keyword("order") {
        None
    } else {
        Some(p.or()?)
    };
    let mut order = Vec::new();
    if p.keyword("order") {
        p.pos += 1;
        if !p.keyword("by") {
            return Err("expected BY after ORDER".into());
        }
        p.pos += 1;
        loop {
            let field = match p.bump() {
                Some(Tok::Word(w)) => w.to_ascii_lowercase(),
                got => return Err(format!("expected an order field, got {got:?}")),
            };
            if !["lastmodified", "created", "title", "id"].contains(&field.as_str()) {
                return Err(format!("cannot order by {field}"));
            }
            let desc = if p.keyword("desc") {
                p.pos += 1;
                true
            } else {
                if p.keyword("asc") {
                    p.pos += 1;
                }
                false
            };
            order.push((field, desc));
            if p.peek() == Some(&Tok::Comma) {
                p.pos += 1;
                continue;
            }
            break;
        }
    }
    if let Some(t) = p.peek() {
        return Err(format!("unexpected {t:?}"));
    }
    if filter.is_none() && order.is_empty() {
        return Err("empty query".into());
    }
    // Validate the values now so a bad date is a parse error, not an empty result.
    if let Some(f) = &filter {
        check(f)?;
    }
    Ok(Cql { filter, order })
}

fn check(e: &Expr) -> Result<(), String> {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => check(a).and(check(b)),
        Expr::Not(a) => check(a),
        Expr::Clause { field, op, values } => {
            let date = field == "created" || field == "lastmodified";
            let allowed: &[&str] = match field.as_str() {
                "text" => &["~", "!~"],
                "title" => &["=", "!=", "~", "!~", "in", "not in"],
                _ if date => &["=", "!=", ">", ">=", "<", "<=", "in", "not in"],
                _ => &["=", "!=", "in", "not in"],
            };
            if !allowed.contains(&op.as_str()) {
                return Err(format!("operator {op} is not supported for field {field}"));
            }
            for v in values {
                if date {
                    date_value(v, Utc::now())?;
                } else if let Value::Func(f, _) = v
                    && f != "currentuser"
                {
                    return Err(format!("function {f} is not valid for {field}"));
                }
            }
            Ok(())
        }
    }
}

/// Instant and whether it names a whole day (date without time).
fn date_value(v: &Value, now: DateTime<Utc>) -> Result<(DateTime<Utc>, bool), String> {
    match v {
        Value::Lit(s) => parse_date(s).ok_or_else(|| format!("bad date {s:?}")),
        Value::Func(f, args) => {
            let shift = match args.first() {
                Some(a) => parse_offset(a).ok_or_else(|| format!("bad offset {a:?}"))?,
                None => Duration::zero(),
            };
            let day =
                Utc.from_utc_datetime(&now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
            let t = match f.as_str() {
                "now" => now,
                "startofday" => day,
                "endofday" => day + Duration::days(1) - Duration::milliseconds(1),
                "startofweek" => {
                    day - Duration::days(i64::from(now.weekday().num_days_from_monday()))
                }
                "endofweek" => {
                    day - Duration::days(i64::from(now.weekday().num_days_from_monday()))
                        + Duration::days(7)
                        - Duration::milliseconds(1)
                }
                "startofmonth" => day - Duration::days(i64::from(now.day0())),
                "startofyear" => day - Duration::days(i64::from(now.ordinal0())),
                other => return Err(format!("unknown function {other}()")),
            };
            Ok((t + shift, false))
        }
    }
}

fn parse_date(s: &str) -> Option<(DateTime<Utc>, bool)> {
    for f in ["%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some((Utc.from_utc_datetime(&t), false));
        }
    }
    for f in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some((Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?), true));
        }
    }
    None
}

/// `-7d`, `+1w`, `4h`, `-30m`.
fn parse_offset(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let unit = rest.chars().last()?;
    let n: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    let d = match unit {
        'w' => Duration::weeks(n),
        'd' => Duration::days(n),
        'h' => Duration::hours(n),
        'm' => Duration::minutes(n),
        _ => return None,
    };
    Some(d * sign)
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// CQL `~`: an exact phrase when the value is wrapped in quotes, else every word present.
pub fn text_match(haystack: &str, needle: &str) -> bool {
    let hay = words(haystack);
    let n = needle.trim();
    if n.len() >= 2 && n.starts_with('"') && n.ends_with('"') {
        let phrase = words(&n[1..n.len() - 1]);
        return !phrase.is_empty() && hay.windows(phrase.len()).any(|w| w == phrase.as_slice());
    }
    let terms: Vec<String> = n
        .split_whitespace()
        .map(|t| t.to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    !terms.is_empty()
        && terms.iter().all(|t| match t.strip_suffix('*') {
            Some(prefix) => {
                let p = words(prefix).join("");
                hay.iter().any(|w| w.starts_with(&p))
            }
            None => {
                let tw = words(t);
                !tw.is_empty() && hay.windows(tw.len()).any(|w| w == tw.as_slice())
            }
        })
}

/// The words of `~` clauses, for highlighting.
pub fn text_terms(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            text_terms(a, out);
            text_terms(b, out);
        }
        Expr::Not(_) => {}
        Expr::Clause { op, values, .. } if op == "~" => {
            for v in values {
                if let Value::Lit(s) = v {
                    out.extend(
                        words(s.trim_matches('"'))
                            .into_iter()
                            .map(|w| w.trim_end_matches('*').to_owned()),
                    );
                }
            }
        }
        Expr::Clause { .. } => {}
    }
}

pub struct Eval<'a> {
    pub st: &'a State,
    /// The user `currentUser()` names.
    pub me: usize,
    pub now: DateTime<Utc>,
}

impl Eval<'_> {
    pub fn matches(&self, e: &Expr, c: &Content) -> bool {
        match e {
            Expr::And(a, b) => self.matches(a, c) && self.matches(b, c),
            Expr::Or(a, b) => self.matches(a, c) || self.matches(b, c),
            Expr::Not(a) => !self.matches(a, c),
            Expr::Clause { field, op, values } => {
                let hit = values.iter().any(|v| {
                    self.clause(
                        field,
                        op.trim_start_matches("not ").trim_start_matches('!'),
                        v,
                        c,
                    )
                });
                let negated = op.starts_with('!') || op == "not in";
                hit != negated
            }
        }
    }

    fn user_matches(&self, v: &Value, user: usize) -> bool {
        match v {
            Value::Func(f, _) if f == "currentuser" => user == self.me,
            Value::Lit(s) => self
                .st
                .users
                .get(user)
                .is_some_and(|u| &u.account_id == s || &u.user_key == s || &u.username == s),
            Value::Func(..) => false,
        }
    }

    /// One positive comparison (`=`/`in` as `=`, `~`, dates).
    fn clause(&self, field: &str, op: &str, v: &Value, c: &Content) -> bool {
        let lit = match v {
            Value::Lit(s) => s.as_str(),
            Value::Func(..) => "",
        };
        let id_eq = |x: Option<u64>| x.is_some_and(|x| lit.parse::<u64>() == Ok(x));
        match field {
            "type" => c.kind.as_str().eq_ignore_ascii_case(lit),
            "space" | "space.key" => self
                .st
                .space(c.space_id)
                .is_some_and(|s| s.key.eq_ignore_ascii_case(lit)),
            "space.type" => self
                .st
                .space(c.space_id)
                .is_some_and(|s| s.kind.eq_ignore_ascii_case(lit)),
            "title" if op == "~" => text_match(c.title(), lit),
            "title" => c.title() == lit,
            "text" => {
                let hay = format!(
                    "{} {} {}",
                    c.title(),
                    plain_text(c.body()),
                    c.labels.join(" ")
                );
                text_match(&hay, lit)
            }
            "id" | "content" => id_eq(Some(c.id)),
            "ancestor" => {
                self.st.ancestors(c.id).iter().any(|a| id_eq(Some(a.id)))
                    || (c.kind != Kind::Page
                        && c.container_id.is_some_and(|p| {
                            id_eq(Some(p)) || self.st.ancestors(p).iter().any(|a| id_eq(Some(a.id)))
                        }))
            }
            "parent" => id_eq(c.parent_id.filter(|_| c.kind == Kind::Page)),
            "container" => id_eq(c.container_id),
            "label" => c.labels.iter().any(|l| l == lit),
            "creator" => self.user_matches(v, c.created_by),
            "contributor" => c.versions.iter().any(|ver| self.user_matches(v, ver.by)),
            "watcher" => c.watchers.iter().any(|u| self.user_matches(v, *u)),
            "created" | "lastmodified" => {
                let t = if field == "created" {
                    c.created_at
                } else {
                    c.modified()
                };
                let Ok((at, whole_day)) = date_value(v, self.now) else {
                    return false;
                };
                let end = if whole_day {
                    at + Duration::days(1)
                } else {
                    at
                };
                match op {
                    "=" | "in" if whole_day => t >= at && t < end,
                    "=" | "in" => t == at,
                    ">" => t >= end,
                    ">=" => t >= at,
                    "<" => t < at,
                    "<=" => t < end || t == at,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// The content matching `cql` (current only), ordered.
    pub fn run<'s>(&'s self, cql: &Cql) -> Vec<&'s Content> {
        let mut hits: Vec<&Content> = self
            .st
            .contents
            .values()
            .filter(|c| c.status == super::state::Status::Current)
            .filter(|c| cql.filter.as_ref().is_none_or(|f| self.matches(f, c)))
            .collect();
        for (field, desc) in cql.order.iter().rev() {
            hits.sort_by(|a, b| {
                let o = match field.as_str() {
                    "lastmodified" => a.modified().cmp(&b.modified()),
                    "created" => a.created_at.cmp(&b.created_at),
                    "title" => a.title().cmp(b.title()),
                    _ => a.id.cmp(&b.id),
                };
                if *desc { o.reverse() } else { o }
            });
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bridge_queries() {
        for q in [
            r#"type=page AND space="ENG" AND text ~ "deploy""#,
            r#"lastModified > now("-7d") order by lastModified desc"#,
            r#"space IN ("A","B")"#,
            r#"ancestor = 123"#,
            r#"title ~ "say \"hi\"" and lastmodified >= "2024/01/31 10:00""#,
            r#"(type = page OR type = blogpost) AND NOT space = X order by lastmodified asc"#,
        ] {
            parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_queries() {
        for q in [
            r#"title ~ "open"#,
            "type = ",
            "nosuchfield = x",
            "text = x",
            r#"lastmodified > "yesterday""#,
            "type = page order lastmodified",
            "AND type = page",
        ] {
            assert!(parse(q).is_err(), "{q}");
        }
    }

    #[test]
    fn phrase_and_words() {
        assert!(text_match("Deploy the app now", "app deploy"));
        assert!(text_match("Deploy the app now", "\"the app\""));
        assert!(!text_match("Deploy the app now", "\"app the\""));
        assert!(text_match("Deployment", "deploy*"));
    }
}
