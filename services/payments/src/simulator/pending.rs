//! The simulator's promised webhooks, on disk: one small JSON file per delayed charge in
//! `{data_dir}/simulator-webhooks/`, named `{payment id}.json`.
//!
//! A file is written (temporary file, fsync, rename, fsync of the directory) before the charge
//! answers `pending`, so a webhook the gateway was promised survives the process dying during
//! the delay; it is removed once our endpoint answered. A file holds the payment id, the tenant,
//! the amount, when the webhook is due and the provider event id: never a card number or a
//! token. A leftover temporary file is an interrupted write whose charge never answered, so the
//! charge is repeated by its caller: it is deleted at load.

use std::io::Write;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::webhook::{WebhookEvent, WebhookKind};

/// The directory under the data directory.
pub const PENDING_DIR: &str = "simulator-webhooks";
/// Suffix of a pending webhook's file.
const FILE_SUFFIX: &str = ".json";
/// Suffix of a file being written.
const TEMP_SUFFIX: &str = ".json.tmp";
/// Largest pending file read back; they are about 250 bytes.
const FILE_MAX_BYTES: u64 = 4_096;
/// Most pending webhooks loaded at start: bounds what a start reads and schedules.
pub const PENDING_MAX: usize = 10_000;

/// A webhook the simulator owes our endpoint.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingWebhook {
    /// The provider event id (derived from the payment id: a repeat is deduplicated).
    pub event_id: String,
    /// The intent's tenant.
    pub tenant: String,
    /// The intent.
    pub payment_id: Uuid,
    /// What is captured.
    pub amount: Decimal,
    /// When it is due, in ms since the Unix epoch.
    pub due_at_ms: i64,
}

impl PendingWebhook {
    /// The `charge.succeeded` webhook it stands for.
    pub fn event(&self) -> WebhookEvent {
        WebhookEvent {
            id: self.event_id.clone(),
            kind: WebhookKind::ChargeSucceeded {
                tenant: self.tenant.clone(),
                payment_id: self.payment_id,
                amount: self.amount,
            },
        }
    }
}

/// Why the pending webhooks could not be read or written.
#[derive(thiserror::Error, Debug)]
pub enum PendingWebhookError {
    /// Reading, writing, renaming, removing or syncing failed.
    #[error("simulator pending webhook {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file that is not a pending webhook of this build (it is left in place).
    #[error("simulator pending webhook {path} is unreadable: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A file larger than any pending webhook (it is left in place).
    #[error("simulator pending webhook {path} is larger than {FILE_MAX_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// More files than [`PENDING_MAX`]: something keeps failing to deliver them.
    #[error("more than {PENDING_MAX} simulator pending webhooks in {path}")]
    TooMany {
        /// The directory.
        path: String,
    },
    /// The blocking file task did not finish (the runtime is shutting down).
    #[error("simulator pending webhook file task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PendingWebhookError + '_ {
    move |source| PendingWebhookError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The pending webhooks of one data directory.
#[derive(Clone, Debug)]
pub struct PendingWebhooks {
    dir: PathBuf,
}

impl PendingWebhooks {
    /// The store in `dir` (created at the first write).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The store of a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join(PENDING_DIR))
    }

    /// Where they live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, payment_id: Uuid) -> PathBuf {
        self.dir
            .join(format!("{}{FILE_SUFFIX}", payment_id.simple()))
    }

    /// Durably records `pending` unless its payment already has a pending webhook; says whether
    /// it wrote (only then is a delivery to be scheduled: the existing one already is).
    pub async fn save_new(&self, pending: &PendingWebhook) -> Result<bool, PendingWebhookError> {
        let store = self.clone();
        let pending = pending.clone();
        tokio::task::spawn_blocking(move || store.save_new_blocking(&pending)).await?
    }

    /// Forgets the pending webhook of `payment_id` (delivered); nothing to forget is fine.
    pub async fn remove(&self, payment_id: Uuid) -> Result<(), PendingWebhookError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.remove_blocking(payment_id)).await?
    }

    fn save_new_blocking(&self, pending: &PendingWebhook) -> Result<bool, PendingWebhookError> {
        let path = self.file(pending.payment_id);
        if path.try_exists().map_err(io_error(&path))? {
            return Ok(false);
        }
        if !self.dir.try_exists().map_err(io_error(&self.dir))? {
            std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
            // The new directory's own entry must be durable too.
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent).map_err(io_error(parent))?;
            }
        }
        // Strings, a uuid, a decimal and an integer: serialising cannot fail.
        let bytes = serde_json::to_vec(pending).expect("pending webhooks serialize");
        let temp = self
            .dir
            .join(format!("{}{TEMP_SUFFIX}", pending.payment_id.simple()));
        {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)
                .map_err(io_error(&temp))?;
            file.write_all(&bytes).map_err(io_error(&temp))?;
            file.sync_all().map_err(io_error(&temp))?;
        }
        std::fs::rename(&temp, &path).map_err(io_error(&path))?;
        sync_dir(&self.dir).map_err(io_error(&self.dir))?;
        Ok(true)
    }

    fn remove_blocking(&self, payment_id: Uuid) -> Result<(), PendingWebhookError> {
        let path = self.file(payment_id);
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map_err(io_error(&self.dir)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io_error(&path)(err)),
        }
    }

    /// Every pending webhook, each file's own result apart (an unreadable file does not hide
    /// the others). Deletes leftover temporary files. Blocking: called once, at start.
    pub fn load(
        &self,
    ) -> Result<Vec<Result<PendingWebhook, PendingWebhookError>>, PendingWebhookError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io_error(&self.dir)(err)),
        };
        let mut loaded = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_error(&self.dir))?.path();
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            if name.ends_with(TEMP_SUFFIX) {
                std::fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            if !name.ends_with(FILE_SUFFIX) {
                continue;
            }
            if loaded.len() >= PENDING_MAX {
                return Err(PendingWebhookError::TooMany {
                    path: self.dir.display().to_string(),
                });
            }
            loaded.push(read_pending(&path));
        }
        sync_dir(&self.dir).map_err(io_error(&self.dir))?;
        Ok(loaded)
    }
}

fn read_pending(path: &Path) -> Result<PendingWebhook, PendingWebhookError> {
    let size = std::fs::metadata(path).map_err(io_error(path))?.len();
    if size > FILE_MAX_BYTES {
        return Err(PendingWebhookError::TooLarge {
            path: path.display().to_string(),
        });
    }
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    serde_json::from_slice(&bytes).map_err(|source| PendingWebhookError::Unreadable {
        path: path.display().to_string(),
        source,
    })
}

/// Makes a directory's entries (a rename, a removal, a new file) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(payment_id: Uuid) -> PendingWebhook {
        PendingWebhook {
            event_id: format!("evt_sim_{}_charge", payment_id.simple()),
            tenant: "acme".into(),
            payment_id,
            amount: Decimal::new(2000, 2),
            due_at_ms: 1_700_000_000_000,
        }
    }

    #[tokio::test]
    async fn saved_once_loaded_back_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PendingWebhooks::in_data_dir(dir.path());
        assert!(store.load().expect("load").is_empty(), "no directory yet");
        let first = pending(Uuid::now_v7());
        let second = pending(Uuid::now_v7());
        assert!(store.save_new(&first).await.expect("saved"));
        assert!(store.save_new(&second).await.expect("saved"));
        // A second save of the same payment keeps the first (its due time included).
        let later = PendingWebhook {
            due_at_ms: first.due_at_ms + 1,
            ..first.clone()
        };
        assert!(!store.save_new(&later).await.expect("exists"));
        let mut loaded: Vec<_> = store
            .load()
            .expect("load")
            .into_iter()
            .map(|item| item.expect("readable"))
            .collect();
        loaded.sort_by_key(|item| item.payment_id);
        assert_eq!(loaded, vec![first.clone(), second.clone()]);

        store.remove(first.payment_id).await.expect("removed");
        store.remove(first.payment_id).await.expect("already gone");
        let left: Vec<_> = store.load().expect("load").into_iter().collect();
        assert_eq!(left.len(), 1);
        assert_eq!(*left[0].as_ref().expect("readable"), second);
    }

    #[tokio::test]
    async fn leftovers_are_dropped_and_unreadable_files_reported_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PendingWebhooks::in_data_dir(dir.path());
        let kept = pending(Uuid::now_v7());
        store.save_new(&kept).await.expect("saved");
        let temp = store
            .dir()
            .join(format!("{}{TEMP_SUFFIX}", Uuid::now_v7().simple()));
        std::fs::write(&temp, b"{\"event_id\":").expect("temp");
        std::fs::write(store.dir().join("garbage.json"), b"not json").expect("garbage");
        std::fs::write(store.dir().join("README"), b"ignored").expect("other");
        let loaded = store.load().expect("load");
        assert!(!temp.exists(), "interrupted write removed");
        assert_eq!(loaded.len(), 2);
        assert!(loaded.iter().any(|item| item.as_ref().ok() == Some(&kept)));
        assert!(
            loaded
                .iter()
                .any(|item| matches!(item, Err(PendingWebhookError::Unreadable { .. })))
        );
    }

    #[tokio::test]
    async fn a_file_holds_ids_amount_and_time_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PendingWebhooks::in_data_dir(dir.path());
        let item = pending(Uuid::nil());
        store.save_new(&item).await.expect("saved");
        let text = std::fs::read_to_string(store.file(Uuid::nil())).expect("file");
        assert_eq!(
            text,
            "{\"event_id\":\"evt_sim_00000000000000000000000000000000_charge\",\
             \"tenant\":\"acme\",\"payment_id\":\"00000000-0000-0000-0000-000000000000\",\
             \"amount\":\"20.00\",\"due_at_ms\":1700000000000}"
        );
    }
}
