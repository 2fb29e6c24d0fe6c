//! The browser form for an item: strings as the browser sends them, turned into an `ItemInput`.

use serde::{Deserialize, Serialize};

use super::*;
use crate::error::AppError;

/// Splits a comma- or whitespace-separated form field ("codegen, gate:unit git_pr") keeping order.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace()).map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

/// The browser form for an item, all strings as the browser sends them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemForm {
    pub pack_id: String,
    pub title: String,
    pub description: String,
    pub tools: String,
    pub labels: String,
    pub risk: String,
    pub status: String,
    pub estimate_minutes: String,
    pub depends_on: Vec<i64>,
}

impl ItemForm {
    /// Reads the form into an API input, naming the field when a value cannot be read.
    pub fn to_input(&self) -> Result<ItemInput, AppError> {
        let mut p = Problems::default();
        let pack_id = match self.pack_id.trim().parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                p.add("pack_id", "Choose a pack for the item.");
                None
            }
        };
        let risk = Risk::parse(self.risk.trim());
        if risk.is_none() {
            p.add("risk", "Risk must be low, medium or high.");
        }
        let status = ItemStatus::parse(self.status.trim());
        if status.is_none() {
            p.add("status", "Status must be todo, in_progress, blocked or done.");
        }
        let estimate = self.estimate_minutes.trim();
        let estimate_minutes = if estimate.is_empty() {
            Some(0)
        } else {
            match estimate.parse::<i64>() {
                Ok(m) => Some(m),
                Err(_) => {
                    p.add("estimate_minutes", "The estimate must be a whole number of minutes.");
                    None
                }
            }
        };
        p.into_result()?;
        Ok(ItemInput {
            pack_id,
            title: Some(self.title.clone()),
            description: Some(self.description.clone()),
            depends_on: Some(self.depends_on.clone()),
            tools: Some(split_list(&self.tools)),
            labels: Some(split_list(&self.labels)),
            risk,
            estimate_minutes,
            status,
        })
    }
}
