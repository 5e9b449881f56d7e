//! One target the change affects: what every format of `affected` shows.

use serde::Serialize;

use crate::catalog::Approval;
use crate::changes::{self, ObjectChanges, Status};

#[derive(Serialize)]
pub(super) struct AffectedTarget {
    pub(super) service: String,
    pub(super) env: String,
    pub(super) region: String,
    pub(super) cluster: String,
    pub(super) namespace: String,
    pub(super) status: Status,
    pub(super) tier: Approval,
    #[serde(skip)]
    pub(super) env_approval: Approval,
    pub(super) reasons: Vec<String>,
    pub(super) objects: ObjectChanges,
    /// The files that differ, for the pull-request comment.
    #[serde(skip)]
    pub(super) files: Vec<changes::FileChange>,
}
