//! The comments the fan-out posts, in Russian and English, as BB-code.
//!
//! Every comment ends with a marker line (`#confluence-{id}-v{version}-{kind}`, and for
//! status comments `-{webhook time in epoch ms}` after it) that names its ledger row, so a
//! retry that is unsure whether an earlier try's comment got through can find it in the task
//! (see `fanout`).

use chrono::{DateTime, Utc};

/// The language of a portal's comments: the portal's setting, else its install language
/// (`ru`, `ua`, `by`, `kz` → Russian), else English.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    pub fn for_portal(setting: Option<&str>, install_language: Option<&str>) -> Self {
        match setting
            .or(install_language)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("ru" | "ua" | "by" | "kz") => Self::Ru,
            _ => Self::En,
        }
    }
}

/// What a comment reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Updated,
    Deleted,
    Restored,
    Moved,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
            Self::Moved => "moved",
        }
    }
}

impl Kind {
    /// The kind a ledger row's `kind` column names.
    pub fn parse(s: &str) -> Self {
        match s {
            "deleted" => Self::Deleted,
            "restored" => Self::Restored,
            "moved" => Self::Moved,
            _ => Self::Updated,
        }
    }
}

/// The marker that identifies a comment (see the module docs); `event_at` (epoch ms) is
/// appended when non-zero (status comments).
pub fn marker(content_id: u64, version: u32, kind: Kind, event_at: i64) -> String {
    if event_at == 0 {
        format!("#confluence-{content_id}-v{version}-{}", kind.as_str())
    } else {
        format!(
            "#confluence-{content_id}-v{version}-{}-{event_at}",
            kind.as_str()
        )
    }
}

/// The marker line of a rendered comment (its last line), to look for it in the task.
pub fn marker_of(body: &str) -> Option<&str> {
    body.lines()
        .next_back()
        .map(str::trim)
        .filter(|l| l.starts_with("#confluence-"))
}

/// Whether `text` (a posted comment) carries exactly `marker` — not a longer marker that
/// starts with it (a status comment's marker extends the edit marker's shape).
pub fn has_marker(text: &str, marker: &str) -> bool {
    text.match_indices(marker).any(|(i, _)| {
        text[i + marker.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c == '-' || c.is_ascii_alphanumeric()))
    })
}

fn names(lang: Lang, authors: &[String]) -> String {
    let and = match lang {
        Lang::Ru => " и ",
        Lang::En => " and ",
    };
    match authors {
        [] => match lang {
            Lang::Ru => "неизвестный автор".into(),
            Lang::En => "someone".into(),
        },
        [one] => one.clone(),
        [init @ .., last] => format!("{}{and}{last}", init.join(", ")),
    }
}

/// BB-code text: titles cannot close the quote or open a tag.
fn clean(s: &str) -> String {
    s.replace(['[', ']'], "").replace('"', "'")
}

/// The whole comment.
pub fn render(
    lang: Lang,
    kind: Kind,
    title: &str,
    authors: &[String],
    date: DateTime<Utc>,
    url: &str,
    marker: &str,
) -> String {
    let title = clean(title);
    let who = clean(&names(lang, authors));
    let date = date.format("%Y-%m-%d %H:%M UTC");
    let link = format!("[url={url}]{url}[/url]");
    let line = match (lang, kind) {
        (Lang::En, Kind::Updated) => {
            format!("Page \"{title}\" updated by {who}, {date}. Link: {link}")
        }
        (Lang::Ru, Kind::Updated) => {
            format!("Страница \"{title}\" обновлена: {who}, {date}. Ссылка: {link}")
        }
        (Lang::En, Kind::Deleted) => {
            format!("Page \"{title}\" was deleted, {date}. The link no longer works: {link}")
        }
        (Lang::Ru, Kind::Deleted) => {
            format!("Страница \"{title}\" удалена, {date}. Ссылка больше не работает: {link}")
        }
        (Lang::En, Kind::Restored) => {
            format!("Page \"{title}\" was restored, {date}. Link: {link}")
        }
        (Lang::Ru, Kind::Restored) => {
            format!("Страница \"{title}\" восстановлена, {date}. Ссылка: {link}")
        }
        (Lang::En, Kind::Moved) => {
            format!("Page \"{title}\" was moved or renamed, {date}. Link: {link}")
        }
        (Lang::Ru, Kind::Moved) => {
            format!("Страница \"{title}\" перемещена или переименована, {date}. Ссылка: {link}")
        }
    };
    format!("{line}\n{marker}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let d = DateTime::parse_from_rfc3339("2026-11-28T10:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = marker(42, 7, Kind::Updated, 0);
        let en = render(
            Lang::En,
            Kind::Updated,
            "Spec [v2]",
            &["Ann".into(), "Bob".into()],
            d,
            "https://x/wiki/spaces/D/pages/42/Spec",
            &m,
        );
        assert_eq!(
            en,
            "Page \"Spec v2\" updated by Ann and Bob, 2026-11-28 10:05 UTC. Link: \
             [url=https://x/wiki/spaces/D/pages/42/Spec]https://x/wiki/spaces/D/pages/42/Spec[/url]\n\
             #confluence-42-v7-updated"
        );
        let ru = render(Lang::Ru, Kind::Updated, "T", &["A".into()], d, "u", &m);
        assert!(ru.starts_with("Страница \"T\" обновлена: A, "), "{ru}");
        assert_eq!(Lang::for_portal(None, Some("ru")), Lang::Ru);
        assert_eq!(Lang::for_portal(Some("en"), Some("ru")), Lang::En);
        assert_eq!(Lang::for_portal(None, None), Lang::En);
    }

    #[test]
    fn markers() {
        let del = marker(42, 7, Kind::Deleted, 1_700_000_000_123);
        assert_eq!(del, "#confluence-42-v7-deleted-1700000000123");
        let body = format!("Page gone\n{del}");
        assert_eq!(marker_of(&body), Some(del.as_str()));
        assert!(has_marker(&body, &del));
        // A second trash of the same version is another comment.
        assert!(!has_marker(
            &body,
            &marker(42, 7, Kind::Deleted, 1_700_000_000_999)
        ));
        assert!(!has_marker(&body, "#confluence-42-v7-deleted"));
        assert!(!has_marker(
            "x #confluence-42-v70-updated",
            "#confluence-42-v7-updated"
        ));
        assert!(has_marker(
            "x\n#confluence-42-v7-updated",
            "#confluence-42-v7-updated"
        ));
        assert_eq!(Kind::parse("restored"), Kind::Restored);
        assert_eq!(marker_of("no marker"), None);
    }
}
