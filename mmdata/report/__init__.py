"""HTML reports with embedded plots (mixture composition, ablation tables)."""
