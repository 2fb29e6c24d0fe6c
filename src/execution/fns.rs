//! Execution server functions: the browser's door to the same execution service the JSON API
//! uses (execute, cancel). Without JavaScript the browser returns to the plan page; errors come
//! back to the form in place.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::auth::fns::ssr::{form_result, session, state};
use crate::error::AppError;

#[server(prefix = "/_fn", endpoint = "execute_plan")]
pub async fn execute_plan(csrf: String, id: i64) -> Result<(), AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        super::service::execute(&state()?, &who, id).await?;
        leptos_axum::redirect(&format!("/plans/{id}"));
        Ok(())
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "cancel_plan")]
pub async fn cancel_plan(csrf: String, id: i64, #[server(default)] reason: String) -> Result<(), AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        super::service::cancel(&state()?, &who, id, &reason).await?;
        leptos_axum::redirect(&format!("/plans/{id}"));
        Ok(())
    })
    .await
}
