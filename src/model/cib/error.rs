//! Why a CIB element could not be read: the error every reader of the
//! typed view returns, naming the element and its id.

use super::verify::ConfigIssue;
use super::xml::Element;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("<{element} id=\"{id}\">: missing attribute {attribute}")]
    MissingAttribute {
        element: String,
        id: String,
        attribute: String,
    },
    #[error("<{element} id=\"{id}\">: invalid {attribute} \"{value}\"")]
    InvalidValue {
        element: String,
        id: String,
        attribute: String,
        value: String,
    },
    #[error("<{element} id=\"{id}\">: refers to unknown {what} \"{target}\"")]
    Dangling {
        element: String,
        id: String,
        what: String,
        target: String,
    },
    #[error("<{element} id=\"{id}\">: {problem}")]
    Invalid {
        element: String,
        id: String,
        problem: String,
    },
    #[error("the CIB has no <{0}> section")]
    MissingSection(String),
    /// Something Pacemaker itself drops with a warning (old classes).
    #[error("<{element} id=\"{id}\">: {problem}")]
    Unsupported {
        element: String,
        id: String,
        problem: String,
    },
}

impl ModelError {
    /// (element, id, what is wrong) for a configuration error report.
    pub fn parts(&self) -> (String, String, String) {
        match self {
            ModelError::MissingAttribute {
                element,
                id,
                attribute,
            } => (
                element.clone(),
                id.clone(),
                format!("missing attribute {attribute}"),
            ),
            ModelError::InvalidValue {
                element,
                id,
                attribute,
                value,
            } => (
                element.clone(),
                id.clone(),
                format!("invalid {attribute} {value:?}"),
            ),
            ModelError::Dangling {
                element,
                id,
                what,
                target,
            } => (
                element.clone(),
                id.clone(),
                format!("refers to unknown {what} {target:?}"),
            ),
            ModelError::Invalid {
                element,
                id,
                problem,
            } => (element.clone(), id.clone(), problem.clone()),
            ModelError::Unsupported {
                element,
                id,
                problem,
            } => (element.clone(), id.clone(), problem.clone()),
            ModelError::MissingSection(section) => (
                "cib".into(),
                String::new(),
                format!("no <{section}> section"),
            ),
        }
    }
}

impl From<ModelError> for ConfigIssue {
    fn from(error: ModelError) -> ConfigIssue {
        let (element, id, message) = error.parts();
        match error {
            ModelError::Unsupported { .. } => ConfigIssue::warning(&element, &id, message),
            _ => ConfigIssue::error(&element, &id, message),
        }
    }
}

pub(super) fn invalid_because(
    e: &Element,
    attribute: &str,
    value: &str,
    why: impl std::fmt::Display,
) -> ModelError {
    ModelError::Invalid {
        element: e.name.clone(),
        id: e.id().unwrap_or("").to_string(),
        problem: format!("invalid {attribute} {value:?}: {why}"),
    }
}

pub(super) fn missing(e: &Element, attribute: &str) -> ModelError {
    ModelError::MissingAttribute {
        element: e.name.clone(),
        id: e.id().unwrap_or("").to_string(),
        attribute: attribute.to_string(),
    }
}

pub(super) fn invalid(e: &Element, attribute: &str, value: &str) -> ModelError {
    ModelError::InvalidValue {
        element: e.name.clone(),
        id: e.id().unwrap_or("").to_string(),
        attribute: attribute.to_string(),
        value: value.to_string(),
    }
}

pub(super) fn req<'a>(e: &'a Element, attribute: &str) -> Result<&'a str, ModelError> {
    e.attr(attribute).ok_or_else(|| missing(e, attribute))
}
