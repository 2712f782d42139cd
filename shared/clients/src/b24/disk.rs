//! Disk, for files the classic knowledge base links to: the bridge's own folder and base64
//! uploads into it.

use super::B24Client;
use super::codes;
use super::error::B24Error;
use super::http::{number, text};
use base64::Engine;
use bridge_core::ErrorClass;
use serde_json::{Value, json};

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFile {
    pub id: u64,
    /// The name B24 stored, which differs from the one asked for after a clash
    /// (`a (1).png`).
    pub name: String,
    /// `DETAIL_URL` (the file's page in B24), or `DOWNLOAD_URL` when there is none.
    pub url: String,
}

fn disk_file(method: &str, v: &Value) -> Result<DiskFile, B24Error> {
    let field = |k: &str| v.get(k).map(text).filter(|s| !s.is_empty());
    Ok(DiskFile {
        id: v
            .get("ID")
            .and_then(number)
            .ok_or_else(|| B24Error::Decode {
                method: method.to_owned(),
                status: 200,
                reason: "no ID in the answer".into(),
            })?,
        name: field("NAME").unwrap_or_default(),
        url: field("DETAIL_URL")
            .or_else(|| field("DOWNLOAD_URL"))
            .unwrap_or_default(),
    })
}

impl B24Client {
    /// The id of the bridge's folder `name` (created when missing) in the app's own storage
    /// (`disk.storage.getForApp`, which B24 creates on first use). That method needs an app
    /// context and an admin: in webhook mode, or when B24 refuses it, the folder goes into
    /// the first common (company) storage instead.
    pub async fn disk_app_folder(&self, name: &str) -> Result<u64, B24Error> {
        let root = self.disk_root().await?;
        if let Some(id) = self.disk_child_folder(root, name).await? {
            return Ok(id);
        }
        let added = self
            .call_result(
                "disk.folder.addsubfolder",
                json!({"id": root, "data": {"NAME": name}}),
            )
            .await;
        match added {
            Ok(folder) => folder
                .get("ID")
                .and_then(number)
                .ok_or_else(|| B24Error::Decode {
                    method: "disk.folder.addsubfolder".into(),
                    status: 200,
                    reason: "no ID in the answer".into(),
                }),
            // Another worker created it in between.
            Err(e) if e.is_code(codes::DISK_NON_UNIQUE_NAME) => {
                self.disk_child_folder(root, name).await?.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The root folder of the app storage, or of the first common storage.
    async fn disk_root(&self) -> Result<u64, B24Error> {
        if self.member_id().is_some() {
            match self.call_result("disk.storage.getForApp", json!({})).await {
                Ok(storage) => {
                    if let Some(root) = storage.get("ROOT_OBJECT_ID").and_then(number) {
                        return Ok(root);
                    }
                }
                Err(e) if e.class() == ErrorClass::Permanent => {
                    tracing::info!(
                        code = e.code().unwrap_or_default(),
                        "B24 app storage unavailable; using the common storage"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let storages = self
            .list_all(
                "disk.storage.getlist",
                json!({"filter": {"ENTITY_TYPE": "common"}}),
            )
            .await?;
        storages
            .iter()
            .filter(|s| s.get("ENTITY_TYPE").map(text).as_deref() == Some("common"))
            .find_map(|s| s.get("ROOT_OBJECT_ID").and_then(number))
            .ok_or_else(|| {
                B24Error::NotConfigured(
                    "no Disk storage for the bridge's files on the portal".into(),
                )
            })
    }

    async fn disk_child_folder(&self, parent: u64, name: &str) -> Result<Option<u64>, B24Error> {
        let children = self
            .list_all("disk.folder.getchildren", json!({"id": parent}))
            .await?;
        // Disk names are unique case-insensitively within a folder.
        Ok(children
            .iter()
            .filter(|c| c.get("TYPE").map(text).as_deref() == Some("folder"))
            .find(|c| {
                c.get("NAME")
                    .map(text)
                    .is_some_and(|n| n.to_lowercase() == name.to_lowercase())
            })
            .and_then(|c| c.get("ID").and_then(number)))
    }

    /// Uploads `bytes` as `name` into `folder`. A name already taken there makes B24 pick a
    /// free one (`generateUniqueName`): the returned [`DiskFile::name`] is what it chose.
    pub async fn disk_upload(
        &self,
        folder: u64,
        name: &str,
        bytes: &[u8],
    ) -> Result<DiskFile, B24Error> {
        let content = base64::engine::general_purpose::STANDARD.encode(bytes);
        let file = self
            .call_result(
                "disk.folder.uploadfile",
                json!({
                    "id": folder,
                    "data": {"NAME": name},
                    "fileContent": [name, content],
                    "generateUniqueName": true,
                }),
            )
            .await?;
        disk_file("disk.folder.uploadfile", &file)
    }
}
