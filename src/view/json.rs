//! The fleet in the `--once` JSON document: each number as an object with every layout
//! column's key (`null` when no collector filled it) and every note kind's list, and each
//! collector table's rows under the table's key. The keys come from the layout, so a
//! collector's columns appear here as they appear on the page.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{Fleet, Layout, NumberRow, TableDef, TableRow};

/// Every number, worst first, as `[{account, severity, marker, phone_number, <columns>,
/// <notes>}]`.
pub struct Numbers<'a> {
    /// The fleet.
    pub fleet: &'a Fleet,
    /// Its layout.
    pub layout: &'a Layout,
}

impl Serialize for Numbers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.fleet.numbers.len()))?;
        for row in &self.fleet.numbers {
            seq.serialize_element(&Number {
                row,
                layout: self.layout,
            })?;
        }
        seq.end()
    }
}

struct Number<'a> {
    row: &'a NumberRow,
    layout: &'a Layout,
}

impl Serialize for Number<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.row;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("account", &r.account)?;
        map.serialize_entry("severity", &r.severity)?;
        map.serialize_entry("marker", &r.marker)?;
        map.serialize_entry("phone_number", &r.phone_number)?;
        for c in &self.layout.columns {
            map.serialize_entry(c.key, &r.value(c))?;
        }
        for kind in &self.layout.notes {
            let texts: Vec<&str> = r
                .notes
                .iter()
                .filter(|n| n.kind == *kind)
                .map(|n| n.text.as_str())
                .collect();
            map.serialize_entry(kind.key, &texts)?;
        }
        map.end()
    }
}

/// Every collector table, each under its key: `{"<key>": [{account, <columns>}]}`,
/// to be flattened into the document.
pub struct Tables<'a> {
    /// The fleet.
    pub fleet: &'a Fleet,
    /// Its layout.
    pub layout: &'a Layout,
}

impl Serialize for Tables<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.layout.tables.len()))?;
        for table in &self.layout.tables {
            let rows: Vec<TableJson> = self
                .fleet
                .rows(table)
                .iter()
                .map(|row| TableJson { table, row })
                .collect();
            map.serialize_entry(table.key, &rows)?;
        }
        map.end()
    }
}

struct TableJson<'a> {
    table: &'a TableDef,
    row: &'a TableRow,
}

impl Serialize for TableJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("account", &self.row.account)?;
        for (c, v) in self.table.columns.iter().zip(&self.row.row.cells) {
            map.serialize_entry(c.key, v)?;
        }
        map.end()
    }
}
