//! Conversion between actions and table rows, tolerant of rows edited by hand.

use std::fmt;

use serde_json::Value;
use sqlx::{ColumnIndex, Decode, FromRow, Row, Type, TypeInfo, ValueRef};

use super::Listing;
use crate::action::{
    Action, ActionSpec, Fault, InvalidAction, Kind, Phase, VERBS, validate_delay_range,
    validate_status,
};

/// A row of `chaos_actions` exactly as stored, before any check.
#[derive(Debug, FromRow)]
pub(super) struct RawRow {
    id: i64,
    kind: String,
    verb: String,
    target: String,
    min_ms: Option<i64>,
    max_ms: Option<i64>,
    status: Option<i64>,
    body: Option<String>,
    probability: f64,
    phase: Option<String>,
    users: String,
    groups: String,
    hosts: String,
    methods: String,
    enabled: i64,
    expires_at: Option<i64>,
    tag: Option<String>,
    note: Option<String>,
    created_at: i64,
    updated_at: i64,
    created_by: Option<String>,
    starts_at: Option<i64>,
    active_window: Option<String>,
}

/// A stored row that does not describe a valid action; it is skipped, not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRow {
    /// The row's id, when even that could not be read it is `None`.
    pub id: Option<i64>,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for CorruptRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "action row {id} is invalid: {}", self.reason),
            None => write!(f, "an action row is invalid: {}", self.reason),
        }
    }
}

/// Column values for inserting a spec.
pub(super) struct Columns {
    pub kind: &'static str,
    pub verb: &'static str,
    pub min_ms: Option<i64>,
    pub max_ms: Option<i64>,
    pub status: Option<i64>,
    pub body: Option<String>,
    pub phase: Option<&'static str>,
    pub users: String,
    pub groups: String,
    pub hosts: String,
    pub methods: String,
    /// The window's stored form (`09:00-17:00 mon-fri Europe/Berlin`).
    pub window: Option<String>,
}

impl Columns {
    pub(super) fn from_spec(spec: &ActionSpec) -> Self {
        let (mut min_ms, mut max_ms, mut status, mut body, mut phase) =
            (None, None, None, None, None);
        match &spec.fault {
            Fault::Slow {
                min_ms: min,
                max_ms: max,
                phase: when,
            } => {
                min_ms = Some(clamp_i64(*min));
                max_ms = Some(clamp_i64(*max));
                phase = Some(when.as_str());
            }
            Fault::Return {
                status: code,
                body: text,
            } => {
                status = Some(i64::from(*code));
                body = text.clone();
            }
            // The error message shares the body column.
            Fault::Error { message } => body = message.clone(),
            Fault::Abort | Fault::Panic => {}
        }
        Self {
            kind: spec.kind.as_str(),
            verb: spec.fault.verb(),
            min_ms,
            max_ms,
            status,
            body,
            phase,
            users: json_list(&spec.users),
            groups: json_list(&spec.groups),
            hosts: json_list(&spec.hosts),
            methods: json_list(&spec.methods),
            window: spec.window.as_ref().map(ToString::to_string),
        }
    }
}

fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// Parses rows as the driver returns them (PostgreSQL); the ones that do not parse
/// become [`CorruptRow`]s.
pub(super) fn parse_rows<R>(rows: &[R]) -> Listing
where
    R: Row,
    for<'r> RawRow: FromRow<'r, R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    &'static str: ColumnIndex<R>,
{
    let mut listing = Listing::default();
    for row in rows {
        let parsed = RawRow::from_row(row)
            .map_err(|err| CorruptRow {
                id: row.try_get::<i64, _>("id").ok(),
                reason: decode_reason(&err, row),
            })
            .and_then(|raw| {
                let id = raw.id;
                raw.into_action().map_err(|err| CorruptRow {
                    id: Some(id),
                    reason: err.to_string(),
                })
            });
        match parsed {
            Ok(action) => listing.actions.push(action),
            Err(corrupt) => listing.corrupt.push(corrupt),
        }
    }
    listing
}

/// What a column of `chaos_actions` must hold.
#[derive(Debug, Clone, Copy)]
enum ColumnType {
    Integer,
    OptionalInteger,
    Probability,
    Text,
    OptionalText,
}

impl ColumnType {
    fn of(column: &str) -> Self {
        match column {
            "id" | "enabled" | "created_at" | "updated_at" => Self::Integer,
            "min_ms" | "max_ms" | "status" | "expires_at" | "starts_at" => Self::OptionalInteger,
            "probability" => Self::Probability,
            "body" | "phase" | "tag" | "note" | "created_by" | "active_window" => {
                Self::OptionalText
            }
            _ => Self::Text,
        }
    }

    /// For messages about rows that hold something else.
    fn description(self) -> &'static str {
        match self {
            Self::Integer => "an integer",
            Self::OptionalInteger => "an integer or NULL",
            Self::Probability => "a number from 0.0 to 1.0",
            Self::Text => "UTF-8 text",
            Self::OptionalText => "UTF-8 text or NULL",
        }
    }

    /// The SQLite storage classes (`typeof`) that may hold it.
    fn storage_classes(self) -> &'static [&'static str] {
        match self {
            Self::Integer => &["integer"],
            Self::OptionalInteger => &["integer", "null"],
            Self::Probability => &["real", "integer"],
            Self::Text => &["text"],
            Self::OptionalText => &["text", "null"],
        }
    }
}

/// Checks the SQLite storage classes (`typeof`) listed after a row's columns: each
/// column must hold its own type (or NULL where allowed), so a BLOB or a number where
/// text belongs makes the row broken instead of being read as something else.
fn check_storage_classes(row: &[Value]) -> Result<(), InvalidAction> {
    let Some(Value::String(classes)) = row.get(super::LIST_COLUMNS.len()) else {
        return Err(InvalidAction::new("the column types are missing"));
    };
    for (column, class) in super::LIST_COLUMNS.iter().zip(classes.split(' ')) {
        let expected = ColumnType::of(column);
        if !expected.storage_classes().contains(&class) {
            return Err(InvalidAction::new(format!(
                "{column} holds a {} value that cannot be read: allowed is {}",
                class.to_ascii_uppercase(),
                expected.description()
            )));
        }
    }
    Ok(())
}

/// A driver error about one row, said in the table's terms: which column, what it holds,
/// what is allowed (`note holds a BLOB value: allowed is UTF-8 text or NULL`).
fn decode_reason<R>(err: &sqlx::Error, row: &R) -> String
where
    R: Row,
    &'static str: ColumnIndex<R>,
{
    let sqlx::Error::ColumnDecode { index, source } = err else {
        return err.to_string();
    };
    let Some(column) = super::LIST_COLUMNS
        .iter()
        .copied()
        .find(|c| index.trim_matches('"') == *c)
    else {
        return err.to_string();
    };
    let found = match row.try_get_raw(column) {
        Ok(value) if value.is_null() => "NULL".to_owned(),
        Ok(value) => value.type_info().name().to_owned(),
        Err(_) => "unreadable".to_owned(),
    };
    let detail = source.to_string();
    let why = if detail.starts_with("mismatched types") {
        String::new()
    } else {
        format!(" ({detail})")
    };
    format!(
        "{column} holds a {found} value that cannot be read{why}: allowed is {}",
        ColumnType::of(column).description()
    )
}

/// Parses the whole table, read as one JSON array of rows (each row an array of the
/// columns in [`super::LIST_COLUMNS`] order; `None` for an empty table). One aggregated
/// value instead of one driver round trip per row keeps a reload of 10,000 actions
/// cheap; a row that does not parse becomes a [`CorruptRow`] and the rest still load.
/// (SQLite, where the driver's per-row cost dominates: 10,000 rows read in ~25 ms this
/// way against ~70 ms row by row; on PostgreSQL the aggregate is the slower one.)
///
/// Returns `None` when the text as a whole is not such an array (a value JSON cannot
/// carry, such as an infinite number): the caller then reads row by row, so that one
/// bad row never hides the others.
pub(super) fn parse_json_rows(text: Option<&str>) -> Option<Listing> {
    let mut listing = Listing::default();
    let Some(text) = text else {
        return Some(listing);
    };
    let rows: Vec<Vec<Value>> = serde_json::from_str(text).ok()?;
    for row in rows {
        let id = row.first().and_then(Value::as_i64);
        let parsed = RawRow::from_json(&row)
            .and_then(RawRow::into_action)
            .map_err(|err| CorruptRow {
                id,
                reason: err.to_string(),
            });
        match parsed {
            Ok(action) => listing.actions.push(action),
            Err(corrupt) => listing.corrupt.push(corrupt),
        }
    }
    listing.actions.sort_by_key(|a| a.id);
    Some(listing)
}

/// Reads the columns of one row, in [`super::LIST_COLUMNS`] order, checking their types.
struct ColumnReader<'a> {
    values: std::slice::Iter<'a, Value>,
    names: std::slice::Iter<'static, &'static str>,
}

impl ColumnReader<'_> {
    fn next(&mut self) -> Result<(&'static str, &Value), InvalidAction> {
        let name = self.names.next().copied().unwrap_or("?");
        let value = self
            .values
            .next()
            .ok_or_else(|| InvalidAction::new(format!("column {name} is missing")))?;
        Ok((name, value))
    }

    fn wrong(name: &str, value: &Value, allowed: &str) -> InvalidAction {
        InvalidAction::new(format!("{name} is {value}: allowed is {allowed}"))
    }

    fn int(&mut self) -> Result<i64, InvalidAction> {
        let (name, value) = self.next()?;
        value
            .as_i64()
            .ok_or_else(|| Self::wrong(name, value, "an integer"))
    }

    fn opt_int(&mut self) -> Result<Option<i64>, InvalidAction> {
        let (name, value) = self.next()?;
        match value {
            Value::Null => Ok(None),
            other => other
                .as_i64()
                .map(Some)
                .ok_or_else(|| Self::wrong(name, other, "an integer or NULL")),
        }
    }

    fn float(&mut self) -> Result<f64, InvalidAction> {
        let (name, value) = self.next()?;
        value
            .as_f64()
            .ok_or_else(|| Self::wrong(name, value, "a number"))
    }

    fn text(&mut self) -> Result<String, InvalidAction> {
        let (name, value) = self.next()?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Self::wrong(name, value, "text"))
    }

    fn opt_text(&mut self) -> Result<Option<String>, InvalidAction> {
        let (name, value) = self.next()?;
        match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text.clone())),
            other => Err(Self::wrong(name, other, "text or NULL")),
        }
    }
}

impl RawRow {
    fn from_json(row: &[Value]) -> Result<Self, InvalidAction> {
        check_storage_classes(row)?;
        let mut columns = ColumnReader {
            values: row.iter(),
            names: super::LIST_COLUMNS.iter(),
        };
        Ok(Self {
            id: columns.int()?,
            kind: columns.text()?,
            verb: columns.text()?,
            target: columns.text()?,
            min_ms: columns.opt_int()?,
            max_ms: columns.opt_int()?,
            status: columns.opt_int()?,
            body: columns.opt_text()?,
            probability: columns.float()?,
            phase: columns.opt_text()?,
            users: columns.text()?,
            groups: columns.text()?,
            hosts: columns.text()?,
            methods: columns.text()?,
            enabled: columns.int()?,
            expires_at: columns.opt_int()?,
            tag: columns.opt_text()?,
            note: columns.opt_text()?,
            created_at: columns.int()?,
            updated_at: columns.int()?,
            created_by: columns.opt_text()?,
            starts_at: columns.opt_int()?,
            active_window: columns.opt_text()?,
        })
    }

    fn into_action(self) -> Result<Action, InvalidAction> {
        let kind: Kind = self.kind.parse()?;
        // Columns another verb uses must be empty: a value there means the row was edited
        // into something no action is (the CLI refuses e.g. --phase on `return`).
        let verb = self.verb.as_str();
        for (column, used_by, filled) in [
            ("min_ms", &["slow"][..], self.min_ms.is_some()),
            ("max_ms", &["slow"][..], self.max_ms.is_some()),
            ("phase", &["slow"][..], self.phase.is_some()),
            ("status", &["return"][..], self.status.is_some()),
            ("body", &["return", "error"][..], self.body.is_some()),
        ] {
            if filled && VERBS.split(", ").any(|v| v == verb) && !used_by.contains(&verb) {
                return Err(InvalidAction::new(format!(
                    "{column} is set on a '{verb}' action: allowed is NULL ({column} belongs to {})",
                    used_by.join(", ")
                )));
            }
        }
        let fault = match self.verb.as_str() {
            "slow" => {
                let min_ms = non_negative("min_ms", self.min_ms)?;
                let max_ms = non_negative("max_ms", self.max_ms)?;
                validate_delay_range(min_ms, max_ms)?;
                let phase = match self.phase.as_deref() {
                    None => Phase::Before,
                    Some(text) => text.parse()?,
                };
                Fault::Slow {
                    min_ms,
                    max_ms,
                    phase,
                }
            }
            "return" => {
                let status = self
                    .status
                    .ok_or_else(|| InvalidAction::new("status is missing for verb 'return'"))?;
                Fault::Return {
                    status: validate_status(status)?,
                    body: self.body,
                }
            }
            "abort" => Fault::Abort,
            "panic" => Fault::Panic,
            "error" => Fault::Error { message: self.body },
            other => {
                return Err(InvalidAction::new(format!(
                    "unknown verb '{other}': allowed are {VERBS}"
                )));
            }
        };
        if self.target.is_empty() {
            return Err(InvalidAction::new("target is empty"));
        }
        // Verb and kind, probability, names, methods and expiry: `validate_stored` below.
        let enabled = match self.enabled {
            0 => false,
            1 => true,
            other => {
                return Err(InvalidAction::new(format!(
                    "enabled is {other}: allowed are 0 and 1"
                )));
            }
        };
        let action = Action {
            id: self.id,
            spec: ActionSpec {
                kind,
                target: self.target,
                fault,
                probability: self.probability,
                users: parse_list("users", &self.users)?,
                groups: parse_list("groups", &self.groups)?,
                hosts: parse_list("hosts", &self.hosts)?,
                methods: parse_list("methods", &self.methods)?,
                enabled,
                expires_at: self.expires_at,
                starts_at: self.starts_at,
                window: self
                    .active_window
                    .as_deref()
                    .map(|text| {
                        text.parse().map_err(|err: InvalidAction| {
                            InvalidAction::new(format!("active_window is invalid: {err}"))
                        })
                    })
                    .transpose()?,
                tag: self.tag,
                note: self.note,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
            created_by: self.created_by,
        };
        // Every rule `create` applies to stored values (methods, names, expiry range,
        // ...) applies to rows edited by hand too: a filter that cannot be understood
        // makes the row broken, never wider.
        action.spec.validate_stored()?;
        Ok(action)
    }
}

fn non_negative(column: &str, value: Option<i64>) -> Result<u64, InvalidAction> {
    match value {
        Some(v) => u64::try_from(v).map_err(|_| {
            InvalidAction::new(format!(
                "{column} is {v}: allowed is a delay of 0 ms or more"
            ))
        }),
        None => Err(InvalidAction::new(format!(
            "{column} is missing for verb 'slow'"
        ))),
    }
}

fn parse_list(column: &str, text: &str) -> Result<Vec<String>, InvalidAction> {
    serde_json::from_str(text).map_err(|_| {
        InvalidAction::new(format!(
            "{column} is '{text}': allowed is a JSON array of strings such as [\"alice\"]"
        ))
    })
}
