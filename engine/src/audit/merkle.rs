//! A binary Merkle tree over SHA-256 leaves, with inclusion proofs: how a checkpoint commits to
//! every tenant's chain head while a bundle discloses only one of them.
//!
//! Leaves and inner nodes are hashed with distinct prefixes (0 and 1), so a leaf can never pass
//! for a node. An odd node at the end of a level is carried up unchanged.

use ferry_schemas::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Which side the sibling is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The sibling is the left child.
    Left,
    /// The sibling is the right child.
    Right,
}

/// One step of an inclusion proof, leaf to root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Where the sibling sits.
    pub side: Side,
    /// The sibling's hash.
    pub hash: Digest,
}

/// The hash of a leaf's content.
pub fn leaf(content: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(content);
    Digest(hasher.finalize().into())
}

fn node(left: &Digest, right: &Digest) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left.as_bytes());
    hasher.update(right.as_bytes());
    Digest(hasher.finalize().into())
}

fn up(level: &[Digest]) -> Vec<Digest> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => node(left, right),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// The root over `leaves` (the leaf of no leaves: an empty tree).
pub fn root(leaves: &[Digest]) -> Digest {
    if leaves.is_empty() {
        return leaf(b"");
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = up(&level);
    }
    level[0]
}

/// The inclusion proof of leaf `index` among `leaves`.
pub fn proof(leaves: &[Digest], mut index: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        let sibling = index ^ 1;
        if let Some(hash) = level.get(sibling) {
            let side = if sibling < index {
                Side::Left
            } else {
                Side::Right
            };
            steps.push(Step { side, hash: *hash });
        }
        level = up(&level);
        index /= 2;
    }
    steps
}

/// The root that `leaf` and its `proof` lead to.
pub fn fold(leaf: Digest, proof: &[Step]) -> Digest {
    proof.iter().fold(leaf, |acc, step| match step.side {
        Side::Left => node(&step.hash, &acc),
        Side::Right => node(&acc, &step.hash),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_proves_its_inclusion_and_no_other_leaf_does() {
        for n in 1..=9usize {
            let leaves: Vec<Digest> = (0..n).map(|i| leaf(&[i as u8])).collect();
            let root = root(&leaves);
            for (i, l) in leaves.iter().enumerate() {
                let proof = proof(&leaves, i);
                assert_eq!(fold(*l, &proof), root, "leaf {i} of {n}");
                assert_ne!(fold(leaf(b"other"), &proof), root);
            }
        }
    }
}
