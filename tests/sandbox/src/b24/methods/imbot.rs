//! Chat bots (the classic `imbot.*` API): register (max 5 per app; a bot is a user), commands,
//! messages; and the events B24 sends the bot's handlers when people write to it.

use super::im;
use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::events_out;
use crate::b24::params::{get, get_any, get_int, get_str, is_yes};
use crate::b24::state::{Bot, BotCommand};
use serde_json::{Value, json};

fn app_of(ctx: &Ctx, p: &Value) -> ApiResult<String> {
    match ctx.caller.client_id() {
        Some(c) => Ok(c.to_owned()),
        None => get_str(p, "CLIENT_ID").ok_or_else(ApiError::wrong_auth_type),
    }
}

fn bot_id(ctx: &Ctx, p: &Value, client: &str) -> ApiResult<u64> {
    get_int(p, "BOT_ID")
        .and_then(|b| u64::try_from(b).ok())
        .filter(|b| {
            ctx.portal
                .bots
                .get(b)
                .is_some_and(|bot| bot.client_id == client)
        })
        .ok_or_else(|| ApiError::bad("BOT_ID_ERROR", "Bot not found"))
}

pub fn register(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = app_of(ctx, p)?;
    let code = get_str(p, "CODE").unwrap_or_default();
    if code.is_empty() {
        return Err(ApiError::bad("CODE_ERROR", "Bot code is not specified"));
    }
    if let Some(b) = ctx
        .portal
        .bots
        .values()
        .find(|b| b.client_id == client && b.code == code)
    {
        return Ok(Reply::of(json!(b.id)));
    }
    if ctx
        .portal
        .bots
        .values()
        .filter(|b| b.client_id == client)
        .count()
        >= 5
    {
        return Err(ApiError::bad(
            "MAX_COUNT_ERROR",
            "Has reached the maximum number of bots for application (max: 5)",
        ));
    }
    let common = get_str(p, "EVENT_HANDLER").unwrap_or_default();
    let handler = |k: &str| get_str(p, k).unwrap_or_else(|| common.clone());
    let message_add = handler("EVENT_MESSAGE_ADD");
    if message_add.is_empty() {
        return Err(ApiError::bad(
            "EVENT_MESSAGE_ADD_ERROR",
            "Handler for \"Message add\" event isn't specified",
        ));
    }
    let props = get(p, "PROPERTIES").cloned().unwrap_or(json!({}));
    let name = get_str(&props, "NAME").unwrap_or_default();
    let last = get_str(&props, "LAST_NAME").unwrap_or_default();
    if name.is_empty() && last.is_empty() {
        return Err(ApiError::bad("NAME_ERROR", "Bot name is not specified"));
    }
    let email = get_str(&props, "EMAIL").unwrap_or_default();
    let pos = get_str(&props, "WORK_POSITION").unwrap_or_default();
    let id = ctx
        .portal
        .add_user(&name, &last, &email, false, &pos, "bot");
    ctx.portal.bots.insert(
        id,
        Bot {
            id,
            client_id: client,
            code,
            name: format!("{name} {last}").trim().to_owned(),
            message_add_handler: message_add,
            welcome_handler: handler("EVENT_WELCOME_MESSAGE"),
            delete_handler: handler("EVENT_BOT_DELETE"),
        },
    );
    Ok(Reply::of(json!(id)))
}

pub fn unregister(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = app_of(ctx, p)?;
    let id = bot_id(ctx, p, &client)?;
    ctx.portal.bots.remove(&id);
    ctx.portal.commands.retain(|c| c.bot_id != id);
    Ok(Reply::of(json!(true)))
}

pub fn bot_list(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let m: serde_json::Map<String, Value> = ctx
        .portal
        .bots
        .values()
        .map(|b| {
            (
                b.id.to_string(),
                json!({"ID": b.id, "NAME": b.name, "CODE": b.code, "OPENLINE": "N"}),
            )
        })
        .collect();
    Ok(Reply::of(Value::Object(m)))
}

pub fn command_register(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = app_of(ctx, p)?;
    let bot = bot_id(ctx, p, &client)?;
    let command = get_str(p, "COMMAND")
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    if command.is_empty()
        || !command
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ApiError::bad(
            "COMMAND_ERROR",
            "Command is not specified or has wrong characters",
        ));
    }
    let handler = get_str(p, "EVENT_COMMAND_ADD").unwrap_or_default();
    if handler.is_empty() {
        return Err(ApiError::bad(
            "EVENT_COMMAND_ADD",
            "Handler for \"Command add\" event isn't specified",
        ));
    }
    if get(p, "LANG").is_none() {
        return Err(ApiError::bad("LANG_ERROR", "Lang set can't be empty"));
    }
    if let Some(c) = ctx
        .portal
        .commands
        .iter()
        .find(|c| c.bot_id == bot && c.command == command)
    {
        return Ok(Reply::of(json!(c.id)));
    }
    let id = ctx.portal.next("command");
    ctx.portal.commands.push(BotCommand {
        id,
        bot_id: bot,
        client_id: client,
        command,
        handler,
        common: is_yes(get(p, "COMMON")),
    });
    Ok(Reply::of(json!(id)))
}

pub fn message_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = app_of(ctx, p)?;
    let bot = bot_id(ctx, p, &client)?;
    let text = get_str(p, "MESSAGE").unwrap_or_default();
    let attach = get(p, "ATTACH").cloned();
    if text.trim().is_empty() && attach.is_none() {
        return Err(ApiError::bad("MESSAGE_EMPTY", "Message can't be empty"));
    }
    let dialog = get_any(p, &["DIALOG_ID", "TO_USER_ID"])
        .and_then(crate::b24::params::str_of)
        .unwrap_or_default();
    let chat = im::dialog_chat(ctx.portal, &dialog, bot)?;
    let extra = (
        attach,
        get(p, "KEYBOARD").cloned(),
        is_yes(get(p, "SYSTEM")),
    );
    let id = ctx
        .portal
        .add_message(chat, bot, &text, extra, "imbot.message.add");
    Ok(Reply::of(json!(id)))
}

pub fn command_answer(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = app_of(ctx, p)?;
    let cmd = get_int(p, "COMMAND_ID").and_then(|c| u64::try_from(c).ok());
    let name = get_str(p, "COMMAND").unwrap_or_default();
    let command = ctx
        .portal
        .commands
        .iter()
        .find(|c| c.client_id == client && (Some(c.id) == cmd || c.command == name))
        .cloned()
        .ok_or_else(|| ApiError::bad("COMMAND_ID_ERROR", "Command not found"))?;
    let msg_id = get_int(p, "MESSAGE_ID").and_then(|m| u64::try_from(m).ok());
    let chat = msg_id
        .and_then(|m| ctx.portal.messages.iter().find(|x| x.id == m))
        .map(|m| m.chat_id)
        .ok_or_else(|| ApiError::bad("MESSAGE_ID_ERROR", "Message not found"))?;
    let text = get_str(p, "MESSAGE").unwrap_or_default();
    let extra = (
        get(p, "ATTACH").cloned(),
        get(p, "KEYBOARD").cloned(),
        false,
    );
    let id = ctx
        .portal
        .add_message(chat, command.bot_id, &text, extra, "imbot.command.answer");
    Ok(Reply::of(json!(id)))
}

/// A person writes `text` to a bot (private dialog, or `chat{N}` where the bot is a
/// member): stores the message and sends ONIMBOTMESSAGEADD, or ONIMCOMMANDADD for a
/// registered `/command`. Returns the message id.
pub fn user_writes(ctx: &mut Ctx, bot_id: u64, dialog: Option<&str>, text: &str) -> ApiResult<u64> {
    let bot = ctx
        .portal
        .bots
        .get(&bot_id)
        .cloned()
        .ok_or_else(|| ApiError::bad("BOT_ID_ERROR", "Bot not found"))?;
    let from = ctx.caller.user_id;
    let (chat, dialog_id, chat_type) = match dialog {
        Some(d) if d.starts_with("chat") => {
            (im::dialog_chat(ctx.portal, d, from)?, d.to_owned(), "C")
        }
        _ => (ctx.portal.private_chat(from, bot_id), from.to_string(), "P"),
    };
    let mid = ctx
        .portal
        .add_message(chat, from, text, (None, None, false), "user");
    let user = ctx.portal.users.get(&from).cloned();
    let bot_auth = events_out::auth_block(ctx.world, ctx.portal, &bot.client_id, Some(from));
    let auth = bot_auth.clone();
    let mut params = json!({
        "MESSAGE": text, "MESSAGE_ORIGINAL": text, "MESSAGE_ID": mid.to_string(), "DIALOG_ID": dialog_id,
        "FROM_USER_ID": from.to_string(), "CHAT_TYPE": chat_type, "LANGUAGE": "en",
        "CHAT_ID": chat.to_string(), "MESSAGE_TYPE": chat_type, "COMMAND_CONTEXT": "TEXTAREA",
    });
    if chat_type == "P" {
        params["TO_USER_ID"] = json!(bot_id.to_string());
    } else {
        params["TO_CHAT_ID"] = json!(chat.to_string());
    }
    let user_json = json!({
        "ID": from.to_string(), "NAME": user.as_ref().map(|u| u.full_name()).unwrap_or_default(),
        "FIRST_NAME": user.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
        "LAST_NAME": user.as_ref().map(|u| u.last_name.clone()).unwrap_or_default(),
        "IS_EXTRANET": "N",
    });
    let bot_block = json!({"AUTH": bot_auth, "BOT_ID": bot_id.to_string(), "BOT_CODE": bot.code});
    let word = text
        .strip_prefix('/')
        .map(|t| t.split_whitespace().next().unwrap_or("").to_owned());
    let command = word.and_then(|w| {
        ctx.portal
            .commands
            .iter()
            .find(|c| c.bot_id == bot_id && c.command.eq_ignore_ascii_case(&w))
            .cloned()
    });
    if let Some(c) = command {
        let cmd_params = text.split_once(' ').map(|x| x.1).unwrap_or("");
        let mut block = bot_block;
        for (k, v) in [
            ("COMMAND", json!(c.command)),
            ("COMMAND_ID", json!(c.id.to_string())),
            ("COMMAND_PARAMS", json!(cmd_params)),
            ("COMMAND_CONTEXT", json!("TEXTAREA")),
            ("MESSAGE_ID", json!(mid.to_string())),
        ] {
            block[k] = v;
        }
        let data =
            json!({"COMMAND": {c.id.to_string(): block}, "PARAMS": params, "USER": user_json});
        let body = events_out::event_body("ONIMCOMMANDADD", data, auth);
        events_out::direct(ctx, &c.handler, "ONIMCOMMANDADD", body);
    } else {
        let data =
            json!({"BOT": {bot_id.to_string(): bot_block}, "PARAMS": params, "USER": user_json});
        let body = events_out::event_body("ONIMBOTMESSAGEADD", data, auth);
        events_out::direct(ctx, &bot.message_add_handler, "ONIMBOTMESSAGEADD", body);
    }
    Ok(mid)
}
