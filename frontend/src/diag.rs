//! Diagnostics as plain data: built by every stage, rendered only at the edge.

use crate::Span;

/// A labelled span inside a diagnostic.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say at that place (may be empty).
    pub message: String,
    /// The primary label is the error's location (line and column come from it).
    pub primary: bool,
}

/// One error: a message, labelled spans and free-form notes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    /// The headline, without the `error:` prefix.
    pub message: String,
    /// Labelled places in the source; the first primary one is the location.
    pub labels: Vec<Label>,
    /// Extra lines printed after the source excerpt.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error located at `span`, labelled with `label`.
    pub fn error(message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            labels: vec![Label {
                span,
                message: label.into(),
                primary: true,
            }],
            notes: Vec::new(),
        }
    }

    /// An error with no source location (e.g. about the session, not the text).
    pub fn plain(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The primary location, if any.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map(|l| l.span)
    }
}
