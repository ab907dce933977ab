"""The publish stage: final outputs and the QuickSight manifests that point at them."""
