//! Mirror mode: which spaces are mirrored into which portal's knowledge base
//! (`space_chat_rules.mode`), and which article mirrors which page (`mirror_pages`,
//! `mirror_attachments`).
//!
//! One delivery at a time works on a page of a portal: [`MirrorStore::claim_page`] creates
//! the page's row if needed and takes its lease (database clock) before any article is
//! created, so two workers handling two events of one new page cannot both create it.

use crate::entities::mirror_pages::{self, KbKind, MirrorState};
use crate::entities::space_chat_rules::{self, SyncMode};
use crate::entities::{b24_portals, mirror_attachments};
use crate::{Db, DbError};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use std::time::Duration;

fn id64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// How a space is kept in B24, as an admin sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceMode {
    pub mode: SyncMode,
    /// Mirror mode: which knowledge base.
    pub kb_kind: Option<KbKind>,
    /// Mirror mode: an existing knowledge base (classic site id / KB 2.0 collection id);
    /// none lets the mirror worker create one named after the space.
    pub kb_target_id: Option<String>,
}

/// Where a claimed page's article is now, for the worker to update after writing to B24.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleUpdate {
    pub target_site_id: Option<String>,
    pub target_page_id: String,
    pub target_parent_id: Option<String>,
    pub children_folder_id: Option<String>,
    pub kb_kind: KbKind,
    pub target_url: Option<String>,
    pub title: String,
    pub space_key: String,
    pub parent_content_id: Option<i64>,
    pub version: i32,
    pub state: Option<MirrorState>,
    pub extra_parts: Vec<String>,
    pub old_target_id: Option<String>,
    pub rehome_children: bool,
}

/// An attachment copied to B24.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedAttachment {
    pub attachment_id: String,
    pub version: i32,
    pub file_name: String,
    pub target_file_id: String,
    pub target_url: String,
    pub markdown_embed: Option<String>,
}

#[derive(Clone, Debug)]
pub struct MirrorStore {
    db: Db,
}

impl MirrorStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    // ---- space modes ----

    /// Sets how `space_key` of `site_id` is kept in `portal_id` (keeps the space's chat).
    pub async fn set_space_mode(
        &self,
        site_id: i64,
        space_key: &str,
        portal_id: i64,
        mode: &SpaceMode,
    ) -> Result<space_chat_rules::Model, DbError> {
        if mode.mode == SyncMode::Mirror && mode.kb_kind.is_none() {
            return Err(DbError::Invalid {
                what: "space mode",
                reason: "mirror mode needs a knowledge-base kind (classic or kb2)".into(),
            });
        }
        let now = Utc::now();
        // Setting the same kind again keeps the knowledge base the worker created (or was
        // given) unless another one is named: a re-run must not scatter a space over two.
        let existing = self.space_rule(site_id, space_key, portal_id).await?;
        let kb_target_id = match (&mode.kb_target_id, existing) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(e)) if e.kb_kind == mode.kb_kind => e.kb_target_id,
            (None, _) => None,
        };
        let row = space_chat_rules::ActiveModel {
            site_id: Set(site_id),
            space_key: Set(space_key.to_owned()),
            portal_id: Set(portal_id),
            chat_id: Set(None),
            mode: Set(mode.mode),
            kb_kind: Set(mode.kb_kind),
            kb_target_id: Set(kb_target_id),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        space_chat_rules::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    space_chat_rules::Column::SiteId,
                    space_chat_rules::Column::SpaceKey,
                    space_chat_rules::Column::PortalId,
                ])
                .update_columns([
                    space_chat_rules::Column::Mode,
                    space_chat_rules::Column::KbKind,
                    space_chat_rules::Column::KbTargetId,
                    space_chat_rules::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec(self.db.conn())
            .await?;
        self.space_rule(site_id, space_key, portal_id)
            .await?
            .ok_or_else(|| DbError::Query("space rule vanished after upsert".into()))
    }

    pub async fn space_rule(
        &self,
        site_id: i64,
        space_key: &str,
        portal_id: i64,
    ) -> Result<Option<space_chat_rules::Model>, DbError> {
        Ok(space_chat_rules::Entity::find()
            .filter(space_chat_rules::Column::SiteId.eq(site_id))
            .filter(space_chat_rules::Column::SpaceKey.eq(space_key))
            .filter(space_chat_rules::Column::PortalId.eq(portal_id))
            .one(self.db.conn())
            .await?)
    }

    /// Every space rule with its portal's member id, for `bridgectl space list`.
    pub async fn space_rules(
        &self,
    ) -> Result<Vec<(space_chat_rules::Model, Option<b24_portals::Model>)>, DbError> {
        Ok(space_chat_rules::Entity::find()
            .find_also_related(b24_portals::Entity)
            .order_by_asc(space_chat_rules::Column::SpaceKey)
            .order_by_asc(space_chat_rules::Column::PortalId)
            .all(self.db.conn())
            .await?)
    }

    /// The active portals mirroring `space_key` of `site_id`, with their rules.
    pub async fn mirroring(
        &self,
        site_id: i64,
        space_key: &str,
    ) -> Result<Vec<(space_chat_rules::Model, b24_portals::Model)>, DbError> {
        let rows = space_chat_rules::Entity::find()
            .filter(space_chat_rules::Column::SiteId.eq(site_id))
            .filter(space_chat_rules::Column::SpaceKey.eq(space_key))
            .filter(space_chat_rules::Column::Mode.eq(SyncMode::Mirror))
            .find_also_related(b24_portals::Entity)
            .order_by_asc(space_chat_rules::Column::PortalId)
            .all(self.db.conn())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(rule, portal)| Some((rule, portal?)))
            .filter(|(_, p)| p.status == b24_portals::PortalStatus::Active)
            .collect())
    }

    /// Every mirrored article of a page, in any portal (the page left its space or is gone).
    pub async fn articles_of(
        &self,
        site_id: i64,
        content_id: u64,
    ) -> Result<Vec<mirror_pages::Model>, DbError> {
        Ok(mirror_pages::Entity::find()
            .filter(mirror_pages::Column::SiteId.eq(site_id))
            .filter(mirror_pages::Column::ContentId.eq(id64(content_id)))
            .order_by_asc(mirror_pages::Column::PortalId)
            .all(self.db.conn())
            .await?)
    }

    /// Records the knowledge base the worker created for a rule, unless another delivery
    /// recorded one first; the one recorded.
    /// Only while the rule still asks for `kind`: an admin switching kinds meanwhile must not
    /// get the other kind's knowledge base. `None` when the rule changed under the caller.
    pub async fn set_kb_target(
        &self,
        rule_id: i64,
        kind: KbKind,
        target: &str,
    ) -> Result<Option<String>, DbError> {
        let kind_text = match kind {
            KbKind::Classic => "classic",
            KbKind::Kb2 => "kb2",
        };
        self.db
            .exec_raw(
                "UPDATE space_chat_rules SET kb_target_id = ? \
                 WHERE id = ? AND kb_kind = ? AND (kb_target_id IS NULL OR kb_target_id = '')",
                vec![target.into(), rule_id.into(), kind_text.into()],
            )
            .await?;
        Ok(space_chat_rules::Entity::find_by_id(rule_id)
            .one(self.db.conn())
            .await?
            .filter(|r| r.kb_kind == Some(kind))
            .and_then(|r| r.kb_target_id))
    }

    /// A portal by `member_id`.
    pub async fn portal_by_member(
        &self,
        member_id: &str,
    ) -> Result<Option<b24_portals::Model>, DbError> {
        Ok(b24_portals::Entity::find()
            .filter(b24_portals::Column::MemberId.eq(member_id))
            .one(self.db.conn())
            .await?)
    }

    /// A portal by row id (an article's portal, to retire it).
    pub async fn portal(&self, portal_id: i64) -> Result<Option<b24_portals::Model>, DbError> {
        Ok(b24_portals::Entity::find_by_id(portal_id)
            .one(self.db.conn())
            .await?)
    }

    // ---- mirrored pages ----

    /// Creates the page's row if there is none and takes its lease for `holder` unless
    /// another holder has an unexpired one. The row when `holder` has it, else `None`.
    pub async fn claim_page(
        &self,
        site_id: i64,
        content_id: u64,
        portal_id: i64,
        kb_kind: KbKind,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<mirror_pages::Model>, DbError> {
        let now = Utc::now();
        let row = mirror_pages::ActiveModel {
            site_id: Set(site_id),
            content_id: Set(id64(content_id)),
            portal_id: Set(portal_id),
            kb_kind: Set(kb_kind),
            target_site_id: Set(None),
            target_page_id: Set(String::new()),
            mirrored_version: Set(0),
            mirrored_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        };
        mirror_pages::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    mirror_pages::Column::SiteId,
                    mirror_pages::Column::ContentId,
                    mirror_pages::Column::PortalId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(self.db.conn())
            .await?;
        let now_sql = self.db.now_us_sql();
        let lease_us = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 4);
        let taken = self
            .db
            .exec_raw(
                &format!(
                    "UPDATE mirror_pages SET lease_holder = ?, lease_until_us = {now_sql} + ? \
                     WHERE site_id = ? AND content_id = ? AND portal_id = ? \
                     AND (lease_holder IS NULL OR lease_holder = ? OR lease_until_us < {now_sql})"
                ),
                vec![
                    holder.into(),
                    lease_us.into(),
                    site_id.into(),
                    id64(content_id).into(),
                    portal_id.into(),
                    holder.into(),
                ],
            )
            .await?;
        if taken != 1 {
            return Ok(None);
        }
        self.page(site_id, content_id, portal_id).await
    }

    /// Gives the page's lease back (only if `holder` still has it).
    pub async fn release_page(&self, id: i64, holder: &str) -> Result<(), DbError> {
        self.db
            .exec_raw(
                "UPDATE mirror_pages SET lease_holder = NULL, lease_until_us = 0 \
                 WHERE id = ? AND lease_holder = ?",
                vec![id.into(), holder.into()],
            )
            .await?;
        Ok(())
    }

    pub async fn page(
        &self,
        site_id: i64,
        content_id: u64,
        portal_id: i64,
    ) -> Result<Option<mirror_pages::Model>, DbError> {
        Ok(mirror_pages::Entity::find()
            .filter(mirror_pages::Column::SiteId.eq(site_id))
            .filter(mirror_pages::Column::ContentId.eq(id64(content_id)))
            .filter(mirror_pages::Column::PortalId.eq(portal_id))
            .one(self.db.conn())
            .await?)
    }

    /// Every mirrored page of a space in a portal (link rewriting, listings).
    pub async fn pages_in_space(
        &self,
        site_id: i64,
        space_key: &str,
        portal_id: i64,
    ) -> Result<Vec<mirror_pages::Model>, DbError> {
        Ok(mirror_pages::Entity::find()
            .filter(mirror_pages::Column::SiteId.eq(site_id))
            .filter(mirror_pages::Column::SpaceKey.eq(space_key))
            .filter(mirror_pages::Column::PortalId.eq(portal_id))
            .order_by_asc(mirror_pages::Column::ContentId)
            .all(self.db.conn())
            .await?)
    }

    /// The mirrored pages of a space in a portal with one of `titles` (link rewriting).
    pub async fn pages_titled(
        &self,
        site_id: i64,
        space_key: &str,
        portal_id: i64,
        titles: &[String],
    ) -> Result<Vec<mirror_pages::Model>, DbError> {
        if titles.is_empty() {
            return Ok(Vec::new());
        }
        Ok(mirror_pages::Entity::find()
            .filter(mirror_pages::Column::SiteId.eq(site_id))
            .filter(mirror_pages::Column::SpaceKey.eq(space_key))
            .filter(mirror_pages::Column::PortalId.eq(portal_id))
            .filter(mirror_pages::Column::Title.is_in(titles.iter().cloned()))
            .all(self.db.conn())
            .await?)
    }

    /// Mirrored pages whose Confluence parent is `parent_content_id`.
    pub async fn children(
        &self,
        site_id: i64,
        portal_id: i64,
        parent_content_id: u64,
    ) -> Result<Vec<mirror_pages::Model>, DbError> {
        Ok(mirror_pages::Entity::find()
            .filter(mirror_pages::Column::SiteId.eq(site_id))
            .filter(mirror_pages::Column::PortalId.eq(portal_id))
            .filter(mirror_pages::Column::ParentContentId.eq(id64(parent_content_id)))
            .order_by_asc(mirror_pages::Column::ContentId)
            .all(self.db.conn())
            .await?)
    }

    /// Records where the page's article is now — only while `holder` still holds the
    /// page's lease (`None` when it lost it: a slower delivery must not overwrite a newer
    /// one's result).
    pub async fn save_article(
        &self,
        row: &mirror_pages::Model,
        holder: &str,
        lease: Duration,
        update: &ArticleUpdate,
    ) -> Result<Option<mirror_pages::Model>, DbError> {
        // Renewing is the check: it succeeds only for an unexpired lease of `holder`, and
        // the renewed lease keeps everyone else off while the row is written.
        if !self.renew(row.id, holder, lease).await? {
            return Ok(None);
        }
        let mut am = row.clone().into_active_model();
        am.target_site_id = Set(update.target_site_id.clone());
        am.target_page_id = Set(update.target_page_id.clone());
        am.target_parent_id = Set(update.target_parent_id.clone());
        am.children_folder_id = Set(update.children_folder_id.clone());
        am.kb_kind = Set(update.kb_kind);
        am.target_url = Set(update.target_url.clone());
        am.title = Set(update.title.clone());
        am.space_key = Set(update.space_key.clone());
        am.parent_content_id = Set(update.parent_content_id);
        am.mirrored_version = Set(update.version);
        am.mirrored_at = Set(Utc::now());
        if let Some(state) = update.state {
            am.state = Set(state);
        }
        am.extra_parts = Set((!update.extra_parts.is_empty())
            .then(|| serde_json::to_string(&update.extra_parts).unwrap_or_default()));
        am.old_target_id = Set(update.old_target_id.clone());
        am.rehome_children = Set(update.rehome_children);
        Ok(Some(am.update(self.db.conn()).await?))
    }

    /// Extends `holder`'s lease of a page by `lease` from now (database clock); `false`
    /// when `holder` no longer has an unexpired lease (another delivery may be writing).
    pub async fn renew(&self, id: i64, holder: &str, lease: Duration) -> Result<bool, DbError> {
        let now = self.db.now_us_sql();
        let lease_us = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 4);
        let n = self
            .db
            .exec_raw(
                &format!(
                    "UPDATE mirror_pages SET lease_until_us = {now} + ? \
                     WHERE id = ? AND lease_holder = ? AND lease_until_us > {now}"
                ),
                vec![lease_us.into(), id.into(), holder.into()],
            )
            .await?;
        Ok(n == 1)
    }

    /// The clean-up a write owed is done (only while `holder` has the lease).
    pub async fn clear_pending(&self, id: i64, holder: &str) -> Result<bool, DbError> {
        let n = self
            .db
            .exec_raw(
                "UPDATE mirror_pages SET old_target_id = NULL, rehome_children = ? \
                 WHERE id = ? AND lease_holder = ?",
                vec![false.into(), id.into(), holder.into()],
            )
            .await?;
        Ok(n == 1)
    }

    /// Forgets the page's article (deleted in B24, or the page now belongs in another
    /// knowledge base): the next write creates one, and writes the page's children again
    /// (they were placed under the old one).
    pub async fn reset_article(&self, id: i64) -> Result<(), DbError> {
        mirror_pages::ActiveModel {
            id: Set(id),
            target_page_id: Set(String::new()),
            target_parent_id: Set(None),
            children_folder_id: Set(None),
            target_url: Set(None),
            extra_parts: Set(None),
            old_target_id: Set(None),
            rehome_children: Set(true),
            mirrored_version: Set(0),
            ..Default::default()
        }
        .update(self.db.conn())
        .await?;
        self.forget_attachments(id).await
    }

    /// Sets only the state (trashed / restored) of a claimed page.
    pub async fn set_state(&self, id: i64, state: MirrorState) -> Result<(), DbError> {
        mirror_pages::ActiveModel {
            id: Set(id),
            state: Set(state),
            mirrored_at: Set(Utc::now()),
            ..Default::default()
        }
        .update(self.db.conn())
        .await?;
        Ok(())
    }

    /// Records the folder that holds a page's children (classic).
    pub async fn set_children_folder(&self, id: i64, folder: &str) -> Result<(), DbError> {
        mirror_pages::ActiveModel {
            id: Set(id),
            children_folder_id: Set(Some(folder.to_owned())),
            ..Default::default()
        }
        .update(self.db.conn())
        .await?;
        Ok(())
    }

    // ---- attachments ----

    pub async fn attachments(
        &self,
        mirror_page_id: i64,
    ) -> Result<Vec<mirror_attachments::Model>, DbError> {
        Ok(mirror_attachments::Entity::find()
            .filter(mirror_attachments::Column::MirrorPageId.eq(mirror_page_id))
            .order_by_asc(mirror_attachments::Column::Id)
            .all(self.db.conn())
            .await?)
    }

    /// Records (or replaces) where an attachment of a mirrored page was copied.
    pub async fn put_attachment(
        &self,
        mirror_page_id: i64,
        copied: &CopiedAttachment,
    ) -> Result<(), DbError> {
        let row = mirror_attachments::ActiveModel {
            mirror_page_id: Set(mirror_page_id),
            attachment_id: Set(copied.attachment_id.clone()),
            version: Set(copied.version),
            file_name: Set(copied.file_name.clone()),
            target_file_id: Set(copied.target_file_id.clone()),
            target_url: Set(copied.target_url.clone()),
            markdown_embed: Set(copied.markdown_embed.clone()),
            created_at: Set(Utc::now()),
            ..Default::default()
        };
        mirror_attachments::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    mirror_attachments::Column::MirrorPageId,
                    mirror_attachments::Column::AttachmentId,
                ])
                .update_columns([
                    mirror_attachments::Column::Version,
                    mirror_attachments::Column::FileName,
                    mirror_attachments::Column::TargetFileId,
                    mirror_attachments::Column::TargetUrl,
                    mirror_attachments::Column::MarkdownEmbed,
                ])
                .to_owned(),
            )
            .exec(self.db.conn())
            .await?;
        Ok(())
    }

    /// Forgets the copied attachments of a page (its KB 2.0 document was recreated, so the
    /// files attached to the old one are gone with it).
    pub async fn forget_attachments(&self, mirror_page_id: i64) -> Result<(), DbError> {
        mirror_attachments::Entity::delete_many()
            .filter(mirror_attachments::Column::MirrorPageId.eq(mirror_page_id))
            .exec(self.db.conn())
            .await?;
        Ok(())
    }
}
