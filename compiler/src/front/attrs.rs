//! Typed, checked access to an ONNX node's attributes.

use crate::error::Error;
use crate::front::proto::{AttributeProto, NodeProto};

// AttributeProto.AttributeType values.
const FLOAT: i32 = 1;
const INT: i32 = 2;
const STRING: i32 = 3;
const TENSOR: i32 = 4;
const FLOATS: i32 = 6;
const INTS: i32 = 7;

/// A node being imported: its proto, resolved name and op type, for attribute access and errors.
pub struct NodeCtx<'a> {
    pub node: &'a NodeProto,
    pub name: &'a str,
    pub op: &'a str,
}

impl NodeCtx<'_> {
    /// An error about this node.
    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::Node {
            node: self.name.to_string(),
            op: self.op.to_string(),
            msg: msg.into(),
        }
    }

    fn get(&self, name: &str, ty: i32, what: &str) -> Result<Option<&AttributeProto>, Error> {
        let Some(a) = self
            .node
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
        else {
            return Ok(None);
        };
        if a.ref_attr_name.is_some() {
            return Err(self.err(format!(
                "attribute '{name}' refers to a function attribute, which is not supported"
            )));
        }
        let declared = a.r#type.unwrap_or(0);
        let present = match ty {
            FLOAT => a.f.is_some(),
            INT => a.i.is_some(),
            STRING => a.s.is_some(),
            TENSOR => a.t.is_some(),
            FLOATS => !a.floats.is_empty() || declared == FLOATS,
            INTS => !a.ints.is_empty() || declared == INTS,
            _ => false,
        };
        if (declared != 0 && declared != ty) || (declared == 0 && !present) {
            return Err(self.err(format!("attribute '{name}' must be {what}")));
        }
        Ok(Some(a))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, Error> {
        Ok(self.get(name, INT, "an int")?.map(|a| a.i.unwrap_or(0)))
    }

    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, Error> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, Error> {
        Ok(self
            .get(name, INTS, "a list of ints")?
            .map(|a| a.ints.clone()))
    }

    pub fn float(&self, name: &str) -> Result<Option<f32>, Error> {
        Ok(self
            .get(name, FLOAT, "a float")?
            .map(|a| a.f.unwrap_or(0.0)))
    }

    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, Error> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, Error> {
        Ok(self
            .get(name, FLOATS, "a list of floats")?
            .map(|a| a.floats.clone()))
    }

    pub fn string_or(&self, name: &str, default: &str) -> Result<String, Error> {
        match self.get(name, STRING, "a string")? {
            Some(a) => String::from_utf8(a.s.clone().unwrap_or_default())
                .map_err(|_| self.err(format!("attribute '{name}' is not UTF-8"))),
            None => Ok(default.to_string()),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<&crate::front::proto::TensorProto>, Error> {
        Ok(self
            .get(name, TENSOR, "a tensor")?
            .and_then(|a| a.t.as_ref()))
    }

    /// True if the node has an attribute of this name, whatever its type.
    pub fn has(&self, name: &str) -> bool {
        self.node
            .attribute
            .iter()
            .any(|a| a.name.as_deref() == Some(name))
    }
}
