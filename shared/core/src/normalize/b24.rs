//! Bitrix24 event deliveries (already parsed from their form) → events.

use crate::Payload;
use crate::envelope::{AppAction, AppEvent, BotEvent, TaskAction, TaskCommentEvent, TaskEvent};
use serde_json::Value;

/// What the delivery means. `None` for an event the bridge does not use.
pub fn payload(form: &Value) -> Result<Option<Payload>, String> {
    let event = text(form, &["event"]).ok_or("the delivery has no `event`")?;
    let data = form.get("data").unwrap_or(&Value::Null);
    let member_id =
        text(form, &["auth", "member_id"]).ok_or("the delivery has no `auth[member_id]`")?;
    let ts = text(form, &["ts"]).and_then(|t| t.parse().ok());
    let task = |action, side: &str| -> Result<Option<Payload>, String> {
        let task_id = number(data, &[side, "ID"])
            .or_else(|| number(data, &["FIELDS_AFTER", "ID"]))
            .or_else(|| number(data, &["FIELDS_BEFORE", "ID"]))
            .ok_or_else(|| format!("{event}: no task id in data[{side}][ID]"))?;
        Ok(Some(Payload::B24Task(TaskEvent {
            task_id,
            action,
            changed_at_ts: ts,
        })))
    };
    match event.to_ascii_uppercase().as_str() {
        "ONTASKADD" => task(TaskAction::Added, "FIELDS_AFTER"),
        "ONTASKUPDATE" => task(TaskAction::Updated, "FIELDS_AFTER"),
        "ONTASKDELETE" => task(TaskAction::Deleted, "FIELDS_BEFORE"),
        "ONTASKCOMMENTADD" => {
            // Old task card: FIELDS_AFTER[ID] and [TASK_ID]; new card: ID=0, TASK_ID, MESSAGE_ID.
            let task_id = number(data, &["FIELDS_AFTER", "TASK_ID"])
                .or_else(|| number(data, &["TASK_ID"]))
                .ok_or("ONTASKCOMMENTADD: no task id")?;
            let comment_id = number(data, &["FIELDS_AFTER", "ID"])
                .filter(|id| *id != 0)
                .or_else(|| number(data, &["FIELDS_AFTER", "MESSAGE_ID"]))
                .or_else(|| number(data, &["MESSAGE_ID"]))
                .ok_or("ONTASKCOMMENTADD: no comment or message id")?;
            Ok(Some(Payload::B24TaskComment(TaskCommentEvent {
                task_id,
                comment_id,
            })))
        }
        "ONAPPINSTALL" | "ONAPPUPDATE" | "ONAPPUNINSTALL" => {
            let action = match event.to_ascii_uppercase().as_str() {
                "ONAPPINSTALL" => AppAction::Installed,
                "ONAPPUPDATE" => AppAction::Updated,
                _ => AppAction::Uninstalled,
            };
            Ok(Some(Payload::B24App(AppEvent {
                action,
                member_id,
                domain: text(form, &["auth", "domain"]),
            })))
        }
        "ONIMBOTMESSAGEADD" | "ONIMCOMMANDADD" => bot(&event, data).map(Some),
        _ => Ok(None),
    }
}

/// `ONIMBOTMESSAGEADD` (`data[BOT][<id>]…`, `data[PARAMS]…`) and `ONIMCOMMANDADD`
/// (`data[COMMAND][<id>][COMMAND]…`).
fn bot(event: &str, data: &Value) -> Result<Payload, String> {
    let params = data
        .get("PARAMS")
        .ok_or_else(|| format!("{event}: no data[PARAMS]"))?;
    let first_key_number = |group: &str| {
        data.get(group)
            .and_then(Value::as_object)
            .and_then(|m| m.keys().next())
            .and_then(|k| k.parse::<u64>().ok())
    };
    let command_entry = data
        .get("COMMAND")
        .and_then(Value::as_object)
        .and_then(|m| m.values().next());
    let bot_id = first_key_number("BOT")
        .or_else(|| command_entry.and_then(|c| number(c, &["BOT_ID"])))
        .ok_or_else(|| format!("{event}: no bot id"))?;
    Ok(Payload::B24Bot(BotEvent {
        bot_id,
        dialog_id: text(params, &["DIALOG_ID"]).ok_or_else(|| format!("{event}: no DIALOG_ID"))?,
        message_id: number(params, &["MESSAGE_ID"])
            .or_else(|| command_entry.and_then(|c| number(c, &["MESSAGE_ID"])))
            .ok_or_else(|| format!("{event}: no MESSAGE_ID"))?,
        from_user_id: number(params, &["FROM_USER_ID"]).unwrap_or(0),
        text: text(params, &["MESSAGE"]).unwrap_or_default(),
        command: command_entry.and_then(|c| text(c, &["COMMAND"])),
    }))
}

pub fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut node = v;
    for key in path {
        node = node.get(key)?;
    }
    match node {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: &Value, path: &[&str]) -> Option<u64> {
    text(v, path)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::form;

    fn p(body: &str) -> Result<Option<Payload>, String> {
        payload(&form::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn task_events() {
        let Some(Payload::B24Task(t)) = p("event=ONTASKUPDATE&data[FIELDS_BEFORE][ID]=7&data[FIELDS_AFTER][ID]=7&ts=1700000000&auth[member_id]=m").unwrap() else { panic!() };
        assert_eq!(
            (t.task_id, t.action, t.changed_at_ts),
            (7, TaskAction::Updated, Some(1_700_000_000))
        );
        let Some(Payload::B24Task(t)) = p("event=ONTASKDELETE&data[FIELDS_BEFORE][ID]=8&data[FIELDS_AFTER]=undefined&auth[member_id]=m").unwrap() else { panic!() };
        assert_eq!((t.task_id, t.action), (8, TaskAction::Deleted));
        assert!(p("event=ONTASKADD&data[FIELDS_AFTER][ID]=x&auth[member_id]=m").is_err());
        assert!(
            p("event=ONTASKADD&data[FIELDS_AFTER][ID]=1").is_err(),
            "no member id"
        );
        assert_eq!(p("event=ONCRMLEADADD&auth[member_id]=m").unwrap(), None);
    }

    #[test]
    fn comments_in_both_task_cards() {
        let Some(Payload::B24TaskComment(c)) = p("event=ONTASKCOMMENTADD&data[FIELDS_AFTER][ID]=55&data[FIELDS_AFTER][TASK_ID]=7&auth[member_id]=m").unwrap() else { panic!() };
        assert_eq!((c.task_id, c.comment_id), (7, 55));
        let Some(Payload::B24TaskComment(c)) = p("event=ONTASKCOMMENTADD&data[FIELDS_AFTER][ID]=0&data[FIELDS_AFTER][TASK_ID]=7&data[FIELDS_AFTER][MESSAGE_ID]=901&auth[member_id]=m").unwrap() else { panic!() };
        assert_eq!((c.task_id, c.comment_id), (7, 901));
    }

    #[test]
    fn bot_message_and_command() {
        let Some(Payload::B24Bot(b)) = p("event=ONIMBOTMESSAGEADD&data[BOT][39][BOT_ID]=39&data[PARAMS][DIALOG_ID]=chat5&data[PARAMS][MESSAGE_ID]=77&data[PARAMS][FROM_USER_ID]=3&data[PARAMS][MESSAGE]=hi&auth[member_id]=m").unwrap() else { panic!() };
        assert_eq!(
            (b.bot_id, b.dialog_id.as_str(), b.message_id, b.command),
            (39, "chat5", 77, None)
        );
        let Some(Payload::B24Bot(b)) = p("event=ONIMCOMMANDADD&data[COMMAND][12][COMMAND]=wiki&data[COMMAND][12][BOT_ID]=39&data[COMMAND][12][MESSAGE_ID]=78&data[PARAMS][DIALOG_ID]=5&data[PARAMS][MESSAGE]=/wiki%20roadmap&auth[member_id]=m").unwrap() else { panic!() };
        assert_eq!(
            (b.bot_id, b.message_id, b.command.as_deref()),
            (39, 78, Some("wiki"))
        );
    }
}
