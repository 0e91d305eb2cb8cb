"""Sources -> tokenized documents -> packed fixed-length sequences with document boundaries."""
