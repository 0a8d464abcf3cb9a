//! The label values of every metric: small closed sets, so a series' cardinality is bounded
//! and recording one costs a hash of a few words, never an allocation.

use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// Implements [`EncodeLabelValue`] through each enum's `as_str`.
macro_rules! label_value {
    ($($ty:ty),*) => {$(
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    )*};
}
label_value!(
    TransactionOutcome,
    Direction,
    FailureReason,
    ConnectionLabel,
    HomeserverError
);

/// What became of a transaction the homeserver pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionOutcome {
    /// Recorded and acknowledged; its events were dispatched.
    Accepted,
    /// A transaction ID seen before: acknowledged, nothing dispatched again.
    Duplicate,
    /// Answered with an error (bad body, store failure); the homeserver retries.
    Rejected,
}

impl TransactionOutcome {
    /// Every value, for pre-creating the series.
    pub const ALL: [Self; 3] = [Self::Accepted, Self::Duplicate, Self::Rejected];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
        }
    }
}

/// Which way an event was bridged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A Matrix event handed to the network ("in" to the network).
    MatrixToNetwork,
    /// A remote event posted to Matrix ("out" of the network).
    NetworkToMatrix,
}

impl Direction {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MatrixToNetwork => "matrix_to_network",
            Self::NetworkToMatrix => "network_to_matrix",
        }
    }
}

/// Why an event was not bridged. A closed set on purpose: the human text goes to the sender's
/// notice or the log, the class goes here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The Matrix sender may not use the bridge.
    Forbidden,
    /// The Matrix event could not be read or converted.
    Unreadable,
    /// The network refused for now (not connected, rate limited): a retry may work.
    NetworkTransient,
    /// The network refused for good.
    NetworkPermanent,
    /// The homeserver refused or could not be reached (network → Matrix).
    Homeserver,
    /// The bridge's database failed.
    Database,
    /// Anything else (e.g. the network could not describe a chat to create its portal).
    Other,
}

impl FailureReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forbidden => "forbidden",
            Self::Unreadable => "unreadable",
            Self::NetworkTransient => "network_transient",
            Self::NetworkPermanent => "network_permanent",
            Self::Homeserver => "homeserver",
            Self::Database => "database",
            Self::Other => "other",
        }
    }
}

/// The `state` label of `ferrybridge_remote_connections`: the state of one remote connection (a
/// login, or the bridge's own connection) without its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionLabel {
    Connecting,
    Connected,
    TransientDisconnect,
    BadCredentials,
    LoggedOut,
    UnknownError,
}

impl ConnectionLabel {
    /// Every value: each is exported (as 0 when unused) once a network sets its counts.
    pub const ALL: [Self; 6] = [
        Self::Connecting,
        Self::Connected,
        Self::TransientDisconnect,
        Self::BadCredentials,
        Self::LoggedOut,
        Self::UnknownError,
    ];

    /// The state a label value names (the labels of `seam::ConnectionState`).
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == label)
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::TransientDisconnect => "transient_disconnect",
            Self::BadCredentials => "bad_credentials",
            Self::LoggedOut => "logged_out",
            Self::UnknownError => "unknown_error",
        }
    }
}

/// How one HTTP exchange with the homeserver failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HomeserverError {
    /// No answer: connection refused, reset or timed out.
    Transport,
    /// 429.
    RateLimited,
    /// 5xx.
    Server,
    /// Another 4xx (often expected, e.g. `M_NOT_FOUND` from a lookup).
    Client,
}

impl HomeserverError {
    /// Every value, for pre-creating the series.
    pub const ALL: [Self; 4] = [
        Self::Transport,
        Self::RateLimited,
        Self::Server,
        Self::Client,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::RateLimited => "rate_limited",
            Self::Server => "server",
            Self::Client => "client",
        }
    }

    /// The class of an HTTP status that is not a success.
    pub fn from_status(status: u16) -> Self {
        match status {
            429 => Self::RateLimited,
            500..=599 => Self::Server,
            _ => Self::Client,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct TransactionLabels {
    pub outcome: TransactionOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct EventLabels {
    pub network: &'static str,
    pub direction: Direction,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct FailureLabels {
    pub network: &'static str,
    pub reason: FailureReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ConnectionLabels {
    pub network: &'static str,
    pub state: ConnectionLabel,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ErrorLabels {
    pub kind: HomeserverError,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DbLabels {
    pub op: &'static str,
}
