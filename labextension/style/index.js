import './base.css';
import './system.css';
