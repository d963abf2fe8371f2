"""findscu's machinery: the C-FIND loop and what is done with each response identifier."""
