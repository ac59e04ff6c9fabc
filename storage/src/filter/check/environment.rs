//! The environments: which identifiers a filter of Results or of Records may use.

use cel::common::ast::IdedExpr;

use super::super::ir::*;
use super::checker::{Checker, Term};
use crate::Result;

/// Which fields a filter may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// ListResults: `parent`, `uid`, `annotations`, `summary.*`, times.
    Results,
    /// ListRecords: `parent`, `result_name`, `name`, `data_type`, `data`, times.
    Records,
}

impl Environment {
    pub(super) fn names(self) -> &'static str {
        match self {
            Environment::Results => {
                "parent, uid, annotations, summary.{record,type,status,start_time,end_time,annotations}, \
                 create_time, update_time"
            }
            Environment::Records => "parent, result_name, name, data_type, data, create_time, update_time",
        }
    }
}

impl Checker<'_> {
    pub(super) fn ident(&self, e: &IdedExpr, name: &str) -> Result<Term> {
        let text = |f| Ok(Term::Operand(Operand::Text(f)));
        let time = |f| Ok(Term::Operand(Operand::Time(f)));
        let json = |root| {
            Ok(Term::Operand(Operand::Json(JsonPath {
                root,
                steps: Vec::new(),
            })))
        };
        if self.element.as_deref() == Some(name) {
            return json(JsonRoot::Element);
        }
        match (self.env, name) {
            (_, "parent") => text(TextField::Parent),
            (_, "create_time") => time(TimeField::CreateTime),
            (_, "update_time") => time(TimeField::UpdateTime),
            (_, "PIPELINE_RUN") => Ok(Term::Lit(Lit::Str("tekton.dev/v1.PipelineRun".into()))),
            (_, "TASK_RUN") => Ok(Term::Lit(Lit::Str("tekton.dev/v1.TaskRun".into()))),
            (Environment::Records, "result_name") => text(TextField::ResultName),
            (Environment::Records, "name") => text(TextField::Name),
            (Environment::Records, "data_type") => text(TextField::DataType),
            (Environment::Records, "data") => json(JsonRoot::Data),
            (Environment::Results, "uid") => text(TextField::Uid),
            (Environment::Results, "annotations") => json(JsonRoot::Annotations),
            (Environment::Results, "summary") => Ok(Term::Summary),
            (Environment::Results, "UNKNOWN") => Ok(Term::Lit(Lit::Int(0))),
            (Environment::Results, "SUCCESS") => Ok(Term::Lit(Lit::Int(1))),
            (Environment::Results, "FAILURE") => Ok(Term::Lit(Lit::Int(2))),
            (Environment::Results, "TIMEOUT") => Ok(Term::Lit(Lit::Int(3))),
            (Environment::Results, "CANCELLED") => Ok(Term::Lit(Lit::Int(4))),
            _ => Err(self.err(
                e,
                format!(
                    "unknown identifier `{name}`; available: {}",
                    self.env.names()
                ),
            )),
        }
    }

    pub(super) fn summary_field(&self, e: &IdedExpr, field: &str) -> Result<Term> {
        Ok(Term::Operand(match field {
            "record" => Operand::Text(TextField::SummaryRecord),
            "type" => Operand::Text(TextField::SummaryType),
            "status" => Operand::Status,
            "start_time" => Operand::Time(TimeField::SummaryStartTime),
            "end_time" => Operand::Time(TimeField::SummaryEndTime),
            "annotations" => Operand::Json(JsonPath { root: JsonRoot::SummaryAnnotations, steps: Vec::new() }),
            other => {
                return Err(self.err(e, format!(
                    "summary has no field `{other}`; available: record, type, status, start_time, end_time, annotations"
                )))
            }
        }))
    }
}
