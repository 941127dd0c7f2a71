"""{{ cookiecutter.app_title }}: a model of {{ cookiecutter.target }} that retrains itself as corrected data arrives."""
