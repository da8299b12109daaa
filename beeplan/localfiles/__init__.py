"""localfiles"""
