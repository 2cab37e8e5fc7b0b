//! The persistent registry of reported road damage, one SQLite file per camera under
//! the state dir. Road damage lasts months and is analysed at very low rates across
//! restarts, so "already reported" must survive a reboot; otherwise every restart would
//! re-report every pothole in view.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::infer::BBox;
use crate::ingest::MediaTime;

/// Why the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("road-damage registry {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("road-damage registry {path}: cannot create its folder: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One known damage, box normalised to 0..1.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownDamage {
    pub id: i64,
    pub bbox: BBox,
    /// Normalised area when last reported.
    pub area: f64,
    pub category: String,
    pub event_id: String,
    pub reported_ns: i64,
}

/// Registry of one camera.
pub struct RoadRegistry {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for RoadRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoadRegistry")
            .field("path", &self.path)
            .finish()
    }
}

/// `<state_dir>/road-damage/<camera>.sqlite`.
pub fn registry_path(state_dir: &Path, camera_id: &str) -> PathBuf {
    state_dir
        .join("road-damage")
        .join(format!("{camera_id}.sqlite"))
}

impl RoadRegistry {
    /// Opens (creating if needed) the registry at `path`. WAL + `synchronous=FULL`: a
    /// report is recorded durably before the event leaves the engine.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| RegistryError::Dir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let err = |source| RegistryError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS damage (
                 id INTEGER PRIMARY KEY,
                 x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
                 area REAL NOT NULL,
                 category TEXT NOT NULL,
                 event_id TEXT NOT NULL,
                 reported_ns INTEGER NOT NULL
             );",
        )
        .map_err(err)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> RegistryError {
        RegistryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Every known damage (a camera sees a few dozen at most).
    pub fn all(&self) -> Result<Vec<KnownDamage>, RegistryError> {
        let mut st = self
            .conn
            .prepare("SELECT id, x1, y1, x2, y2, area, category, event_id, reported_ns FROM damage")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(KnownDamage {
                    id: r.get(0)?,
                    bbox: BBox::new(
                        r.get::<_, f64>(1)? as f32,
                        r.get::<_, f64>(2)? as f32,
                        r.get::<_, f64>(3)? as f32,
                        r.get::<_, f64>(4)? as f32,
                    ),
                    area: r.get(5)?,
                    category: r.get(6)?,
                    event_id: r.get(7)?,
                    reported_ns: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Records a newly reported damage; returns its row id.
    pub fn insert(
        &self,
        bbox: BBox,
        area: f64,
        category: &str,
        event_id: &str,
        at: MediaTime,
    ) -> Result<i64, RegistryError> {
        self.conn
            .execute(
                "INSERT INTO damage (x1, y1, x2, y2, area, category, event_id, reported_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![bbox.x1 as f64, bbox.y1 as f64, bbox.x2 as f64, bbox.y2 as f64, area, category, event_id, at.0],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records a re-report of damage `id` after it grew.
    pub fn update(
        &self,
        id: i64,
        bbox: BBox,
        area: f64,
        event_id: &str,
        at: MediaTime,
    ) -> Result<(), RegistryError> {
        self.conn
            .execute(
                "UPDATE damage SET x1 = ?2, y1 = ?3, x2 = ?4, y2 = ?5, area = ?6, event_id = ?7, reported_ns = ?8 WHERE id = ?1",
                params![id, bbox.x1 as f64, bbox.y1 as f64, bbox.x2 as f64, bbox.y2 as f64, area, event_id, at.0],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
