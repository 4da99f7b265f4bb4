"""Statistics of a study's judgments, its report and exports."""
