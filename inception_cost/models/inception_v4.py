"""(filled in by the family's builder)"""
