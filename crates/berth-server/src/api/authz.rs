//! Every access decision of the management API, in one file. Handlers extract a
//! [`Caller`] and ask one `can_*` function before they act; nothing else in
//! `api/` decides who may do what.
//!
//! This build has no authentication yet (`auth.mode = none`): [`Caller`] is a
//! placeholder for the authenticated principal and every check allows, which is
//! what berth's `/v2` API does too in that mode. Authentication replaces
//! [`Caller`] and the bodies below; the handlers do not change.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::{ApiError, ApiResult};

/// Who is calling. A placeholder until authentication lands: it carries no
/// identity, and extraction never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller;

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller)
    }
}

/// Whether anyone, signed in or not, may read the project (Harbor's `public`
/// project metadata). Every project is public without authentication.
pub fn project_is_public(_project: &str) -> bool {
    true
}

/// May `caller` see the project and list its repositories and artifacts?
pub fn can_read_project(_caller: &Caller, _project: &str) -> ApiResult<()> {
    Ok(())
}

/// May `caller` list repositories across all projects (`GET /repositories`)?
/// With authentication, the listing must be narrowed to the projects the caller
/// may read inside the query (not by dropping rows after paging, which would
/// break `X-Total-Count`).
pub fn can_list_all_repositories(_caller: &Caller) -> ApiResult<()> {
    Ok(())
}

/// May `caller` delete a repository of the project?
pub fn can_delete_repository(_caller: &Caller, _project: &str) -> ApiResult<()> {
    Ok(())
}

/// May `caller` delete an artifact of the project?
pub fn can_delete_artifact(_caller: &Caller, _project: &str) -> ApiResult<()> {
    Ok(())
}

/// May `caller` add a tag to an artifact of the project?
pub fn can_create_tag(_caller: &Caller, _project: &str) -> ApiResult<()> {
    Ok(())
}

/// May `caller` remove a tag from an artifact of the project?
pub fn can_delete_tag(_caller: &Caller, _project: &str) -> ApiResult<()> {
    Ok(())
}

/// May `caller` read the system information (`GET /systeminfo`)? Harbor answers
/// anyone, with fewer fields for anonymous callers.
pub fn can_read_system_info(_caller: &Caller) -> ApiResult<()> {
    Ok(())
}
