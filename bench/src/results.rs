//! What a run collects: tables of samples per contender and metric.

use crate::contenders::{Contender, Send};
use crate::measure::Summary;

/// One metric (a column).
#[derive(Clone, Debug)]
pub struct Metric {
    pub name: &'static str,
    /// Show ratios to the floor and to Python for this metric.
    pub ratios: bool,
    /// Decimal places in the report.
    pub digits: usize,
}

impl Metric {
    pub const fn new(name: &'static str, digits: usize) -> Metric {
        Metric {
            name,
            ratios: false,
            digits,
        }
    }
    pub const fn ratio(name: &'static str, digits: usize) -> Metric {
        Metric {
            name,
            ratios: true,
            digits,
        }
    }
}

/// One contender's way of sending (a row).
#[derive(Clone, Debug)]
pub struct Row {
    pub contender: Contender,
    pub send: Send,
    /// Samples per metric.
    pub samples: Vec<Vec<f64>>,
    /// Runs that failed or timed out, and rows not run (with why).
    pub notes: Vec<String>,
}

/// How a (contender, way of sending) row is named.
pub fn variant_label(contender: Contender, send: Send) -> String {
    Row {
        contender,
        send,
        samples: Vec::new(),
        notes: Vec::new(),
    }
    .label()
}

impl Row {
    pub fn label(&self) -> String {
        match self.send {
            Send::Direct if self.contender.is_ours() => {
                format!("{}, blocking TcpConnection", self.contender.name())
            }
            Send::Direct => self.contender.name(),
            Send::Hook => format!("{}, sends in hook", self.contender.name()),
            Send::Thread => format!("{}, sends from thread", self.contender.name()),
        }
    }
}

/// A scenario's table.
#[derive(Clone, Debug)]
pub struct Table {
    pub title: String,
    pub notes: Vec<String>,
    pub metrics: Vec<Metric>,
    pub rows: Vec<Row>,
    /// Rows are servers only (the client is the harness's): label them by contender.
    pub servers_only: bool,
}

impl Table {
    pub fn new(title: impl Into<String>, metrics: Vec<Metric>) -> Table {
        Table {
            title: title.into(),
            notes: Vec::new(),
            metrics,
            rows: Vec::new(),
            servers_only: false,
        }
    }

    pub fn label(&self, row: &Row) -> String {
        if self.servers_only {
            row.contender.name()
        } else {
            row.label()
        }
    }

    /// The row of `(contender, send)`, made on first use.
    pub fn row(&mut self, contender: Contender, send: Send) -> &mut Row {
        let i = match self
            .rows
            .iter()
            .position(|r| r.contender == contender && r.send == send)
        {
            Some(i) => i,
            None => {
                self.rows.push(Row {
                    contender,
                    send,
                    samples: vec![Vec::new(); self.metrics.len()],
                    notes: Vec::new(),
                });
                self.rows.len() - 1
            }
        };
        &mut self.rows[i]
    }

    /// Records one run's values (in metric order).
    pub fn record(&mut self, contender: Contender, send: Send, values: &[f64]) {
        let row = self.row(contender, send);
        for (s, v) in row.samples.iter_mut().zip(values) {
            s.push(*v);
        }
    }

    pub fn note(&mut self, contender: Contender, send: Send, note: impl Into<String>) {
        let note = note.into();
        let row = self.row(contender, send);
        if !row.notes.contains(&note) {
            row.notes.push(note);
        }
    }

    pub fn summary(&self, contender: Contender, send: Send, metric: usize) -> Option<Summary> {
        let row = self
            .rows
            .iter()
            .find(|r| r.contender == contender && r.send == send)?;
        Summary::of(&row.samples[metric])
    }

    /// The median of contender `other` to compare a row with: its row with the same way of
    /// sending when it has one, else its first row.
    pub fn reference(&self, other: Contender, send: Send, metric: usize) -> Option<f64> {
        let row = self
            .rows
            .iter()
            .find(|r| r.contender == other && r.send == send)
            .or_else(|| self.rows.iter().find(|r| r.contender == other))?;
        Summary::of(&row.samples[metric]).map(|s| s.median)
    }
}
